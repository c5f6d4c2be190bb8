import { describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { inspectionRecipe } from "../src/core/inspect/inspectionRecipe.ts";
import { inspectVectors, type InspectionProgress } from "../src/core/inspect/inspectVectors.ts";
import type { InspectedElements, VectorInspection } from "../src/core/inspect/VectorInspection.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { memorySource } from "./helpers/memoryModel.ts";
import { randomWords, safetensorsBytes, type TestTensor } from "./helpers/writeTestModel.ts";

/*
 * The vector inspector against a float64 implementation written here from the definitions (whole
 * tensors in memory, naive loops), on hand-made tensors: bf16 / f16 / f32 mixes, zeros and -0,
 * NaN and Inf, several chunks per tensor, one to three vectors. A counting source checks that no
 * read is larger than a chunk and that every byte of every inspected tensor is read exactly once.
 */

const CONFIG = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", num_hidden_layers: 2, tie_word_embeddings: false };
/** Name and shape of every tensor, in file order: small biases and norms lie between larger weights. */
const LAYOUT: [string, number[]][] = [
  ["model.embed_tokens.weight", [9, 4]],
  ["model.layers.0.input_layernorm.weight", [4]],
  ["model.layers.0.self_attn.q_proj.weight", [4, 4]],
  ["model.layers.0.self_attn.q_proj.bias", [4]],
  ["model.layers.0.self_attn.k_proj.weight", [2, 4]],
  ["model.layers.0.mlp.down_proj.weight", [4, 7]],
  ["model.layers.0.post_attention_layernorm.weight", [4]],
  ["model.layers.1.input_layernorm.weight", [4]],
  ["model.layers.1.self_attn.q_proj.weight", [4, 4]],
  ["model.layers.1.self_attn.q_proj.bias", [4]],
  ["model.layers.1.mlp.down_proj.weight", [4, 7]],
  ["model.norm.weight", [4]],
  ["lm_head.weight", [9, 4]],
];

/** Decodes element bits to numbers, written from the formats' definitions (not the project's tables). */
function decode(dtype: FloatDtype, bits: number): number {
  if (dtype === "F32") return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
  if (dtype === "BF16") return new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Bits of `value` in dtype, by truncation of its float32 bits (any value of the dtype will do here). */
function encode(dtype: FloatDtype, value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  if (dtype === "F32") return bits;
  if (dtype === "BF16") return bits >>> 16;
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const abs = Math.abs(value);
  if (abs >= 65504) return sign | 0x7c00;
  if (abs < 2 ** -14) return sign | Math.floor(abs / 2 ** -24);
  const exponent = Math.floor(Math.log2(abs));
  return sign | ((exponent + 15) << 10) | Math.floor((abs / 2 ** exponent - 1) * 1024);
}

function tensorBytes(dtype: FloatDtype, values: readonly number[]): Uint8Array {
  const bits = dtype === "F32" ? new Uint32Array(values.map((value) => encode(dtype, value))) : new Uint16Array(values.map((value) => encode(dtype, value)));
  return new Uint8Array(bits.buffer);
}

/** Values of the base model: random magnitudes from 1e-3 to 1 of either sign, some exact zeros. */
function baseValues(seed: number, count: number): number[] {
  const words = randomWords(seed, 2 * count);
  return Array.from({ length: count }, (_, e) => (words[2 * e]! % 11 === 0 ? 0 : (words[2 * e]! / 2 ** 32 - 0.5) * 2 * 10 ** -((words[2 * e + 1]! % 3) + 0)));
}

/**
 * A variant of the base: most elements moved a little; every 7th left as the base has it in every
 * variant (v = 0), -0 where the base is 0 in plus variants (v = -0); where `specials`, NaN and +-Inf.
 */
function variantValues(base: readonly number[], seed: number, specials: boolean, side: "target" | "plus" | "minus"): number[] {
  const words = randomWords(seed, base.length);
  return base.map((value, e) => {
    if (e % 7 === 3) return value === 0 && side === "plus" ? -0 : value;
    const kind = words[e]! % 17;
    if (specials && kind === 2) return NaN;
    if (specials && kind === 3) return e % 2 ? Infinity : -Infinity;
    return value + ((words[e]! >>> 8) / 2 ** 24 - 0.5) * 0.05;
  });
}

interface HandModel {
  dtype: (tensor: number) => FloatDtype;
  values: number[][];
}

/** The models of a recipe: target and per vector plus and minus, each tensor with its own dtype. */
function handModels(vectorCount: number): Map<string, HandModel> {
  const models = new Map<string, HandModel>();
  const dtypes: FloatDtype[] = ["BF16", "F16", "F32"];
  const base = LAYOUT.map(([, shape], t) => baseValues(100 + t, shape.reduce((a, b) => a * b, 1)));
  models.set("target", { dtype: (t) => dtypes[t % 3]!, values: base.map((values, t) => variantValues(values, 200 + t, false, "target")) });
  for (let j = 0; j < vectorCount; j++) {
    for (const [side, offset] of [["plus", 1], ["minus", 2]] as const) {
      const seed = 1000 * (j + 1) + 10 * offset;
      models.set(`${side}${j}`, {
        dtype: (t) => dtypes[(t + j + offset) % 3]!,
        values: base.map((values, t) => variantValues(values, seed + t, t === 2 || t === 5, side)),
      });
    }
  }
  return models;
}

/** The decoded values the file holds (each value as its dtype stores it). */
function stored(model: HandModel, t: number): number[] {
  const dtype = model.dtype(t);
  const bytes = tensorBytes(dtype, model.values[t]!);
  const bits = dtype === "F32" ? new Uint32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
  return [...bits].map((word) => decode(dtype, word));
}

function modelFiles(model: HandModel): Map<string, Uint8Array> {
  const tensors: TestTensor[] = LAYOUT.map(([name, shape], t) => ({ name, dtype: model.dtype(t), shape, data: tensorBytes(model.dtype(t), model.values[t]!) }));
  return new Map([
    ["config.json", new TextEncoder().encode(JSON.stringify(CONFIG))],
    // A plain Uint8Array: a Buffer's slice is a view, which the memory source would hand out unaligned.
    ["model.safetensors", new Uint8Array(safetensorsBytes(tensors))],
  ]);
}

/** A memory source that records every read (file, offset, length). */
function countingSource(label: string, files: Map<string, Uint8Array>, reads: { source: string; path: string; offset: number; length: number }[]): ModelSource {
  const inner = memorySource(label, files);
  return { ...inner, read: (path, offset, length, signal) => (reads.push({ source: label, path, offset, length }), inner.read(path, offset, length, signal)) };
}

function recipeOf(vectorCount: number, minus?: string): MergeRecipe {
  return {
    target: "target",
    method: "ties",
    parameters: defaultRecipeParameters("ties"),
    vectors: Array.from({ length: vectorCount }, (_, j) => ({ plus: `plus${j}`, minus: minus ?? `minus${j}`, weight: j === 0 ? 0 : 0.5, density: 0.3 })),
    vocab: "exact",
  };
}

async function inspect(models: Map<string, HandModel>, recipe: MergeRecipe, chunkBytes: number) {
  const reads: { source: string; path: string; offset: number; length: number }[] = [];
  const { plan } = await openAndPlan(inspectionRecipe(recipe), async (spec) => countingSource(spec, modelFiles(models.get(spec)!), reads));
  // Header reads come first; the inspection's reads are the ones after them.
  const headerReads = reads.length;
  let last: InspectionProgress | undefined;
  const inspection = await inspectVectors(plan, { chunkBytes, onProgress: (progress) => (last = progress) });
  return { inspection, reads: reads.slice(headerReads), plan, last: last! };
}

/** The reference: float64 statistics of the concatenation of `tensors` (indices of LAYOUT), naive loops. */
function reference(models: Map<string, HandModel>, recipe: MergeRecipe, tensors: number[]): InspectedElements {
  const target = tensors.flatMap((t) => stored(models.get(recipe.target)!, t));
  const vectors = recipe.vectors.map(({ plus, minus }) => {
    const p = tensors.flatMap((t) => stored(models.get(plus)!, t));
    const m = tensors.flatMap((t) => stored(models.get(minus)!, t));
    return p.map((value, e) => Math.fround(value - m[e]!));
  });
  const finite = (x: number) => Number.isFinite(x);
  let targetSumSquares = 0;
  for (const t of target) if (finite(t)) targetSumSquares += t * t;
  const norms = vectors.map((v) => Math.sqrt(v.filter(finite).reduce((sum, x) => sum + x * x, 0)));
  const pairs: InspectedElements["pairs"] = [];
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++) {
      let dot = 0;
      let sameSign = 0;
      let bothNonZero = 0;
      for (let e = 0; e < target.length; e++) {
        const x = vectors[i]![e]!;
        const y = vectors[j]![e]!;
        if (!finite(x) || !finite(y)) continue;
        dot += x * y;
        if (x !== 0 && y !== 0) {
          bothNonZero++;
          if (Math.sign(x) === Math.sign(y)) sameSign++;
        }
      }
      pairs.push({ vectors: [i, j], dot, cosine: dot / (norms[i]! * norms[j]!), sameSign, bothNonZero, signAgreement: sameSign / bothNonZero });
    }
  }
  return {
    elements: target.length,
    targetSumSquares,
    targetNorm: Math.sqrt(targetSumSquares),
    targetNonFinite: target.filter((t) => !finite(t)).length,
    vectors: vectors.map((v, j) => ({
      sumSquares: norms[j]! ** 2,
      norm: norms[j]!,
      relativeNorm: norms[j]! / Math.sqrt(targetSumSquares),
      maxAbs: Math.max(0, ...v.filter(finite).map(Math.abs)),
      zeros: v.filter((x) => x === 0).length,
      zeroShare: v.filter((x) => x === 0).length / v.length,
      nonFinite: v.filter((x) => !finite(x)).length,
    })),
    pairs,
  };
}

/** Every number within 1e-9 relative (exact for counts), the same nulls and structure. */
function expectClose(got: unknown, expected: unknown, where: string): void {
  if (typeof expected === "number" && typeof got === "number") {
    if (Number.isInteger(expected) && Number.isInteger(got) && Math.abs(expected) < 2 ** 40) {
      expect(got, where).toBe(expected);
    } else {
      expect(Math.abs(got - expected), `${where}: ${got} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.abs(expected));
    }
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(got) && got.length, where).toBe(expected.length);
    expected.forEach((value, i) => expectClose((got as unknown[])[i], value, `${where}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    for (const [key, value] of Object.entries(expected)) expectClose((got as Record<string, unknown>)[key], value, `${where}.${key}`);
    return;
  }
  expect(got, where).toBe(expected);
}

const index = (name: string) => LAYOUT.findIndex(([tensor]) => tensor === name);

describe("inspectVectors", () => {
  for (const vectorCount of [1, 2, 3]) {
    it(`equals the float64 reference per tensor, per cell and in total, ${vectorCount} vector(s), chunks of a few elements`, async () => {
      const models = handModels(vectorCount);
      const recipe = recipeOf(vectorCount);
      const { inspection, reads } = await inspect(models, recipe, 24);
      expect(inspection.tensors.map((tensor) => tensor.name)).toEqual(LAYOUT.map(([name]) => name));
      for (const tensor of inspection.tensors) expectClose(tensor, reference(models, recipe, [index(tensor.name)]), tensor.name);
      for (const cell of inspection.cells) expectClose(cell, reference(models, recipe, cell.tensors.map(index)), `cell ${cell.layer} ${cell.module}`);
      expectClose(inspection.total, reference(models, recipe, LAYOUT.map((_, t) => t)), "total");
      expect(inspection.layers).toBe(2);
      expect(Math.max(...reads.map((read) => read.length))).toBeLessThanOrEqual(24);
      // The hand-made data does reach the corner cases.
      expect(inspection.total.vectors.every((stats) => stats.zeros > 0 && stats.nonFinite > 0)).toBe(true);
      const negativeZeros = LAYOUT.flatMap((_, t) => {
        const minus = stored(models.get("minus0")!, t);
        return stored(models.get("plus0")!, t).map((p, e) => Math.fround(p - minus[e]!));
      }).filter((v) => Object.is(v, -0));
      expect(negativeZeros.length).toBeGreaterThan(0);
      if (vectorCount > 1) expect(inspection.total.pairs).toHaveLength((vectorCount * (vectorCount - 1)) / 2);
    });
  }

  it("groups tensors into heatmap cells: a layer's q weight and bias together, norms, embed and lm_head apart", async () => {
    const models = handModels(1);
    const { inspection } = await inspect(models, recipeOf(1), 1 << 20);
    const cells = Object.fromEntries(inspection.cells.map((cell) => [`${cell.layer ?? "model"}:${cell.module}`, cell.tensors]));
    expect(cells).toEqual({
      "model:embed": ["model.embed_tokens.weight"],
      "0:norms": ["model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"],
      "0:q": ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias"],
      "0:k": ["model.layers.0.self_attn.k_proj.weight"],
      "0:down": ["model.layers.0.mlp.down_proj.weight"],
      "1:norms": ["model.layers.1.input_layernorm.weight"],
      "1:q": ["model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.bias"],
      "1:down": ["model.layers.1.mlp.down_proj.weight"],
      "model:norms": ["model.norm.weight"],
      "model:lm_head": ["lm_head.weight"],
    });
  });

  it("does not depend on the chunking: chunks of 8 bytes give the same numbers as one chunk", async () => {
    const models = handModels(2);
    const small = (await inspect(models, recipeOf(2), 8)).inspection;
    const whole = (await inspect(models, recipeOf(2), 1 << 20)).inspection;
    expectClose(small, whole as unknown as VectorInspection, "inspection");
  });

  it("reads every byte of every tensor of every input once, no read larger than a chunk; a shared minus is read once", async () => {
    for (const minus of [undefined, "target"]) {
      const models = handModels(2);
      const recipe = recipeOf(2, minus);
      const chunkBytes = 40;
      const { reads, plan, last } = await inspect(models, recipe, chunkBytes);
      expect(Math.max(...reads.map((read) => read.length))).toBeLessThanOrEqual(chunkBytes);
      const bytesRead = reads.reduce((sum, read) => sum + read.length, 0);
      expect(last).toMatchObject({ bytesRead, bytesTotal: bytesRead, tensor: "lm_head.weight" });
      const specs = [...new Set([recipe.target, ...recipe.vectors.flatMap(({ plus, minus: m }) => [plus, m])])];
      for (const spec of specs) {
        const model = plan.models.target.source.label === spec ? plan.models.target : plan.models.vectors.flatMap(({ plus, minus: m }) => [plus, m]).find((info) => info.source.label === spec)!;
        const tensors = [...model.tensors.values()];
        const start = Math.min(...tensors.map((tensor) => tensor.offset));
        const end = Math.max(...tensors.map((tensor) => tensor.offset + tensor.byteLength));
        const times = new Uint8Array(end);
        for (const read of reads.filter((read) => read.source === spec)) for (let b = read.offset; b < read.offset + read.length; b++) times[b]!++;
        expect([...times.subarray(start)].every((count) => count === 1), `${spec}: every data byte read once`).toBe(true);
        expect([...times.subarray(0, start)].every((count) => count === 0), `${spec}: nothing before the data`).toBe(true);
      }
    }
  });

  it("leaves out what it cannot inspect, saying why: a tensor only in the target, an integer tensor", async () => {
    const models = handModels(1);
    const withExtra = (files: Map<string, Uint8Array>, extra: TestTensor[]) => {
      const tensors: TestTensor[] = LAYOUT.map(([name, shape], t) => ({ name, shape, dtype: "F32", data: tensorBytes("F32", models.get("target")!.values[t]!) }));
      files.set("model.safetensors", new Uint8Array(safetensorsBytes([...tensors, ...extra])));
      return files;
    };
    const positions: TestTensor = { name: "model.position_ids", dtype: "I64", shape: [2], data: new Uint8Array(16) };
    const onlyTarget: TestTensor = { name: "model.extra.weight", dtype: "F32", shape: [2], data: new Uint8Array(8) };
    const { plan } = await openAndPlan(inspectionRecipe(recipeOf(1)), async (spec) => {
      const files = modelFiles(models.get(spec)!);
      return memorySource(spec, spec === "target" ? withExtra(files, [positions, onlyTarget]) : withExtra(files, [positions]));
    });
    const inspection = await inspectVectors(plan);
    expect(inspection.skipped).toEqual([
      { name: "model.position_ids", reason: "not a float tensor (I64)" },
      { name: "model.extra.weight", reason: "not in every model" },
    ]);
    expect(inspection.tensors).toHaveLength(LAYOUT.length);
  });

  it("stops when aborted, after reporting progress in bytes up to then", async () => {
    const models = handModels(2);
    const { plan } = await openAndPlan(inspectionRecipe(recipeOf(2)), async (spec) => memorySource(spec, modelFiles(models.get(spec)!)));
    const controller = new AbortController();
    const seen: number[] = [];
    const inspection = inspectVectors(plan, {
      chunkBytes: 24,
      signal: controller.signal,
      onProgress: (progress) => {
        seen.push(progress.bytesRead);
        if (seen.length === 3) controller.abort(new Error("stop here"));
      },
    });
    await expect(inspection).rejects.toThrow("stop here");
    expect(seen).toHaveLength(3);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[2]).toBeGreaterThan(seen[1]!);
  });

  it("refuses a plan with errors, naming them", async () => {
    const models = handModels(1);
    const { plan } = await openAndPlan(inspectionRecipe(recipeOf(1)), async (spec) => {
      const files = modelFiles(models.get(spec)!);
      if (spec === "plus0") files.set("config.json", new TextEncoder().encode(JSON.stringify({ ...CONFIG, num_hidden_layers: 3 })));
      return memorySource(spec, files);
    });
    await expect(inspectVectors(plan)).rejects.toThrow(/cannot be inspected: config.json num_hidden_layers differs/);
  });
});
