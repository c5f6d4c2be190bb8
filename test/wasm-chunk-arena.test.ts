import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { sharedChunkMemory, WasmChunkArena } from "../src/core/engine/WasmChunkArena.ts";
import { startSha256Worker } from "../src/core/node/startSha256Worker.ts";
import { expectSameBytes, makeChunk } from "./helpers/floatChunks.ts";
import { oneTermTask } from "./helpers/oneVectorRecipe.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics } from "../src/core/recipe/magnitudeStatistics.ts";
import { chunkOf, RECIPE_CASES, recipeCaseTensors } from "./helpers/recipeCases.ts";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32"];
const CAPACITY = 4096 * 4;

function newArena(capacity = CAPACITY): WasmChunkArena {
  const arena = WasmChunkArena.create(capacity);
  if (!arena) throw new Error("this Node has no shared WebAssembly memory");
  return arena;
}

/** `chunk` copied into a buffer taken from `arena`. */
function placed(arena: WasmChunkArena, chunk: FloatChunk): FloatChunk {
  const bytes = arena.take(chunk.bytes.byteLength);
  bytes.set(chunk.bytes);
  return { dtype: chunk.dtype, bytes };
}

describe("WasmChunkArena", () => {
  it("merges in place to the bytes of mergeChunk, for every dtype mix and length, and leaves the other slots alone", async () => {
    const arena = newArena();
    let seed = 500;
    for (const tDtype of DTYPES) {
      for (const pDtype of DTYPES) {
        for (const outDtype of DTYPES) {
          for (const n of [0, 1, 7, 9, 4096]) {
            const t = makeChunk(tDtype, n, seed++, 1);
            const p = makeChunk(pDtype, n, seed++, 0);
            const m = makeChunk(tDtype, n, seed++, 0);
            const inputs = [placed(arena, t), placed(arena, p), placed(arena, m)] as const;
            const into = arena.take(n * 4);
            // A slot after the output's: the kernel writes past a chunk's end into its own slack only.
            const neighbour = arena.take(CAPACITY).fill(0xa5);
            const alpha = -0.3;
            const got = await arena.compute(oneTermTask(alpha, inputs[0], inputs[1], inputs[2], outDtype, into));
            const what = `${tDtype} + ${alpha} * (${pDtype} - ${tDtype}) -> ${outDtype}, n = ${n}`;
            expectSameBytes(got, mergeChunk(alpha, t, p, m, outDtype), what);
            expect(got.buffer, `${what}: computed where it lies`).toBe(into.buffer);
            expect(got.byteOffset).toBe(into.byteOffset);
            expect(neighbour.every((byte) => byte === 0xa5), `${what}: the next slot is untouched`).toBe(true);
            for (const bytes of [...inputs.map((chunk) => chunk.bytes), into, neighbour]) arena.give(bytes);
          }
        }
      }
    }
  });

  it("merges every recipe case (every method, 1 to 3 terms, statistics, the control) where its chunks lie, to the contract's bytes", async () => {
    const arena = newArena(9000 * 4);
    for (const [k, testCase] of RECIPE_CASES.entries()) {
      const { target, inputs, outDtype, expected, dtypes } = recipeCaseTensors(testCase, k);
      const { n } = testCase;
      const terms = inputs.map((input) => ({ plus: placed(arena, chunkOf(input.plus, 0, n)), minus: placed(arena, chunkOf(input.minus, 0, n)) }));
      const statistics = needsMagnitudeStatistics(testCase.recipe)
        ? await computeMagnitudeStatistics(testCase.recipe, n, (visit) => void visit(0, terms))
        : undefined;
      const placedTarget = placed(arena, chunkOf(target, 0, n));
      const into = arena.take(expected.byteLength);
      const segment = { recipe: testCase.recipe, ...(statistics ? { statistics } : {}), firstElement: 0, elements: n };
      const got = await arena.compute({ kind: "merge", outDtype, target: placedTarget, terms, segments: [segment], into });
      const what = `${testCase.name}, ${dtypes}`;
      expectSameBytes(got, expected, what);
      expect(got.buffer, `${what}: written where the output lies`).toBe(into.buffer);
      expect(got.byteOffset).toBe(into.byteOffset);
      for (const bytes of [placedTarget.bytes, ...terms.flatMap(({ plus, minus }) => [plus.bytes, minus.bytes]), into]) arena.give(bytes);
    }
  });

  it("converts in place to the bytes of convertChunk", async () => {
    const arena = newArena();
    for (const inDtype of DTYPES) {
      for (const outDtype of DTYPES) {
        const input = makeChunk(inDtype, 4001, 77, 2);
        const got = await arena.compute({ kind: "convert", input: placed(arena, input), outDtype, into: arena.take(4001 * 4) });
        expectSameBytes(got, convertChunk(input, outDtype), `${inDtype} -> ${outDtype}`);
      }
    }
  });

  it("computes chunks that lie outside it (too long for a slot, or plain arrays) the same way", async () => {
    const arena = newArena(64);
    const t = makeChunk("BF16", 1000, 1, 1);
    const p = makeChunk("F16", 1000, 2, 0);
    const m = makeChunk("BF16", 1000, 3, 0);
    const got = await arena.compute(oneTermTask(2, t, p, m, "F32", arena.take(4000)));
    expectSameBytes(got, mergeChunk(2, t, p, m, "F32"), "outside the arena");
  });

  it("keeps every earlier buffer's bytes as it grows, and reuses a slot once given back, once", () => {
    const arena = newArena(1 << 20);
    const taken = Array.from({ length: 24 }, (_, i) => arena.take((1 << 20) - i).fill(i));
    taken.forEach((bytes, i) => expect(bytes.every((byte) => byte === i), `buffer ${i}`).toBe(true));
    expect(new Set(taken.map((bytes) => bytes.byteOffset)).size).toBe(24);
    arena.give(taken[7]!);
    arena.give(taken[7]!);
    const again = arena.take(10);
    expect(again.byteOffset).toBe(taken[7]!.byteOffset);
    expect(new Set([arena.take(10).byteOffset, ...taken.map((bytes) => bytes.byteOffset)]).size).toBe(25);
    // A longer request than the capacity gets its own memory, which is never pooled.
    const long = arena.take((1 << 20) + 1);
    expect(long.buffer).not.toBe(again.buffer);
    arena.give(long);
    expect(arena.take(1).buffer).not.toBe(long.buffer);
  });

  it("hands out SharedArrayBuffers that the hash worker reads where they lie", async () => {
    const { buffers } = sharedChunkMemory(1 << 16);
    expect(buffers).toBeInstanceOf(WasmChunkArena);
    const bytes = buffers.take(50_000);
    expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
    const worker = startSha256Worker();
    try {
      const hash = worker.create();
      await hash.update(bytes);
      expect(await hash.digest()).toBe(createHash("sha256").update(bytes).digest("hex"));
    } finally {
      await worker.close();
    }
  });
});
