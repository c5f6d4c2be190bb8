import { describe, expect, it } from "vitest";
import { DTYPE_BYTES, type FloatDtype } from "../src/core/dtypes.ts";
import { computeChunkHere, sliceChunk, type ChunkSegment, type ChunkTask } from "../src/core/engine/ChunkComputer.ts";
import { mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { WasmChunkArena } from "../src/core/engine/WasmChunkArena.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";
import { expectSameBytes, makeChunk } from "./helpers/floatChunks.ts";
import { referenceMerge } from "./helpers/recipeReference.ts";
import { elementBits } from "./helpers/readTestModel.ts";

/*
 * A merge task that spans several tensors computes each segment by its own recipe, from its own
 * first element (on this thread and in the wasm arena, by the wasm recipe kernel). Checked segment by segment against
 * mergeChunk (contract v1) and the whole-tensor reference of recipe-v2.md.
 */

const taskArithmetic = (tensorName: string, weight: number): TensorRecipe => ({
  tensorName,
  method: "task_arithmetic",
  terms: [{ index: 0, weight: Math.fround(weight), density: 1, gamma: 0.01 }],
  normalize: false,
  rescale: true,
  seed: 0,
});
const dareLinear: TensorRecipe = { tensorName: "model.layers.1.mlp.up_proj.weight", method: "dare_linear", terms: [{ index: 2, weight: 0.5, density: 0.6, gamma: 0.01 }], normalize: false, rescale: true, seed: 9 };

/** The bytes of each segment computed on its own: mergeChunk for one-term task arithmetic, the reference otherwise. */
function expectedBytes(task: Extract<ChunkTask, { kind: "merge" }>): Uint8Array {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const segment of task.segments) {
    const slice = (chunk: FloatChunk) => sliceChunk(chunk, start, segment.elements);
    const [target, plus, minus] = [slice(task.target), slice(task.terms[0]!.plus), slice(task.terms[0]!.minus)];
    if (segment.recipe.method === "task_arithmetic") {
      parts.push(mergeChunk(segment.recipe.terms[0]!.weight, target, plus, minus, task.outDtype));
    } else {
      // The reference over the tensor from element 0: pad the segment's elements with zeros before it.
      const tensor = (chunk: FloatChunk) => ({ dtype: chunk.dtype, bits: [...new Array<number>(segment.firstElement).fill(0), ...elementBits(chunk.dtype, chunk.bytes)] });
      const bits = referenceMerge(segment.recipe, tensor(target), [{ plus: tensor(plus), minus: tensor(minus) }], task.outDtype).slice(segment.firstElement);
      const width = DTYPE_BYTES[task.outDtype];
      const bytes = new Uint8Array(bits.length * width);
      const view = new DataView(bytes.buffer);
      bits.forEach((value, i) => (width === 4 ? view.setUint32(i * width, value, true) : view.setUint16(i * width, value, true)));
      parts.push(bytes);
    }
    start += segment.elements;
  }
  return Buffer.concat(parts);
}

function task(dtype: FloatDtype, outDtype: FloatDtype, segments: ChunkSegment[]): Extract<ChunkTask, { kind: "merge" }> {
  const n = segments.reduce((sum, segment) => sum + segment.elements, 0);
  return { kind: "merge", outDtype, target: makeChunk(dtype, n, 1, 0), terms: [{ plus: makeChunk(dtype, n, 2, 1), minus: makeChunk("F32", n, 3, 2) }], segments };
}

const SEGMENTS: ChunkSegment[][] = [
  // Adjacent task-arithmetic segments of one weight, then another weight, at odd lengths.
  [
    { recipe: taskArithmetic("model.layers.0.input_layernorm.weight", 0.5), firstElement: 0, elements: 33 },
    { recipe: taskArithmetic("model.layers.0.self_attn.q_proj.bias", 0.5), firstElement: 0, elements: 17 },
    { recipe: taskArithmetic("model.layers.0.self_attn.k_proj.bias", -1.25), firstElement: 0, elements: 9 },
  ],
  // A random-keep segment that starts mid-tensor among task-arithmetic ones.
  [
    { recipe: taskArithmetic("model.layers.1.input_layernorm.weight", 2), firstElement: 5, elements: 21 },
    { recipe: dareLinear, firstElement: 1000, elements: 301 },
    { recipe: taskArithmetic("model.norm.weight", 0.3), firstElement: 0, elements: 40 },
  ],
];

describe("merge tasks of several tensor segments", () => {
  it.each(SEGMENTS.flatMap((segments) => (["BF16", "F32"] as const).map((dtype) => [segments.length, segments[1]!.recipe.method, dtype, segments] as const)))(
    "%s segments (%s), %s: computeChunkHere and the wasm arena equal each segment computed alone",
    async (_, __, dtype, segments) => {
      for (const outDtype of ["BF16", "F16", "F32"] as const) {
        const merge = task(dtype, outDtype, segments);
        const expected = expectedBytes(merge);
        expectSameBytes(computeChunkHere(merge), expected, `computeChunkHere -> ${outDtype}`);
        const arena = WasmChunkArena.create(64 * 1024);
        if (!arena) throw new Error("this Node has no shared WebAssembly memory");
        const place = (chunk: FloatChunk): FloatChunk => {
          const bytes = arena.take(chunk.bytes.byteLength);
          bytes.set(chunk.bytes);
          return { dtype: chunk.dtype, bytes };
        };
        const inArena = { ...merge, target: place(merge.target), terms: [{ plus: place(merge.terms[0]!.plus), minus: place(merge.terms[0]!.minus) }], into: arena.take(expected.byteLength) };
        expectSameBytes(await arena.compute(inArena), expected, `arena -> ${outDtype}`);
      }
    },
  );

  it("refuses a task whose segments do not cover its chunks", () => {
    const merge = task("F32", "F32", SEGMENTS[0]!);
    expect(() => computeChunkHere({ ...merge, segments: merge.segments.slice(1) })).toThrow(/internal: chunk sizes differ/);
  });
});
