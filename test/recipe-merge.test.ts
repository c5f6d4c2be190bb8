import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import type { MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import { resolveTensorRecipe } from "../src/core/recipe/resolveTensorRecipe.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { parseByteSize } from "../src/core/safetensors/planShards.ts";
import { TOOL_VERSION } from "../src/core/version.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { elementBits, readTestModel, type ReadTensor } from "./helpers/readTestModel.ts";
import { referenceMerge, type Tensor } from "./helpers/recipeReference.ts";
import { runCli } from "./helpers/runCli.ts";

/*
 * Recipes of several vectors through the CLI and the engine, on tiny generated Qwen2 models that
 * share an initialisation, checked tensor by tensor against the whole-tensor reference of
 * helpers/recipeReference.ts (written from ../shared/recipe-v2.md, not from the engine).
 */

const SHAPE = QWEN2_PRESETS.tiny;
const MODELS = ["target", "plus0", "minus0", "plus1", "minus1", "plus2", "minus2", "f16plus"] as const;
type ModelName = (typeof MODELS)[number];

let root: string;
const dir = (name: ModelName) => join(root, name);
const exists = (path: string) => stat(path).then(() => true, () => false);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "recipe-merge-"));
  // Large variant noise (half the weights' scale): magnitudes and signs differ enough for TIES and breadcrumbs to choose.
  for (const [index, name] of MODELS.entries()) {
    await generateQwen2Model({
      dir: dir(name),
      shape: SHAPE,
      dtype: name === "f16plus" ? "F16" : "BF16",
      initSeed: 5,
      ...(name === "target" ? {} : { variantSeed: index, noiseScale: 0.5 }),
    });
  }
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A recipe file in `root`, its model paths relative to it (resolved against its folder). */
async function writeRecipe(name: string, recipe: Record<string, unknown>): Promise<string> {
  const path = join(root, name);
  await writeFile(path, JSON.stringify(recipe));
  return path;
}

const tensorOf = (read: ReadTensor): Tensor => ({ dtype: read.dtype as FloatDtype, bits: elementBits(read.dtype, read.data) });

/**
 * Every tensor of `out` equals the reference merge of its inputs under `recipe` (vocab exact: every
 * element merged); for a sparsifying recipe, some tensors are sparsified (density below 1).
 */
async function expectReferenceMerge(out: string, recipe: MergeRecipe): Promise<void> {
  const target = await readTestModel(recipe.target);
  const vectors = await Promise.all(recipe.vectors.map(async ({ plus, minus }) => ({ plus: await readTestModel(plus), minus: await readTestModel(minus) })));
  const merged = await readTestModel(out);
  expect([...merged.keys()].sort()).toEqual([...target.keys()].sort());
  let sparsified = 0;
  for (const [name, read] of target) {
    const tensorRecipe = resolveTensorRecipe(recipe, name, SHAPE.numLayers);
    const outDtype = recipe.out_dtype ?? (read.dtype as FloatDtype);
    const inputs = tensorRecipe.terms.map(({ index }) => ({ plus: tensorOf(vectors[index]!.plus.get(name)!), minus: tensorOf(vectors[index]!.minus.get(name)!) }));
    const expected = referenceMerge(tensorRecipe, tensorOf(read), inputs, outDtype);
    const got = merged.get(name)!;
    expect(got.dtype, name).toBe(outDtype);
    const gotBits = elementBits(got.dtype, got.data);
    const first = gotBits.findIndex((bits, e) => bits !== expected[e]);
    expect(first, `${name}: element ${first} is ${gotBits[first]?.toString(16)}, expected ${expected[first]?.toString(16)}`).toBe(-1);
    if (tensorRecipe.terms.some((term) => term.density < 1)) sparsified++;
  }
  if (recipe.method !== "task_arithmetic") expect(sparsified).toBeGreaterThan(0);
}

/** Every file of two folders, byte for byte; merge_recipe.json equal but for created_at. */
async function expectSameFolder(got: string, want: string): Promise<void> {
  const names = (await readdir(want)).sort();
  expect((await readdir(got)).sort()).toEqual(names);
  for (const name of names) {
    const [a, b] = [await readFile(join(got, name)), await readFile(join(want, name))];
    if (name === "merge_recipe.json") {
      const withoutDate = (bytes: Buffer) => ({ ...(JSON.parse(bytes.toString("utf8")) as object), created_at: undefined });
      expect(withoutDate(a)).toEqual(withoutDate(b));
    } else {
      expect(a.equals(b), `${name} differs`).toBe(true);
    }
  }
}

const TIES_TWO = {
  target: "./target",
  method: "ties",
  parameters: { density: 0.5 },
  vectors: [
    { plus: "plus0", minus: "minus0", weight: [0.5, 1] },
    { plus: "plus1", minus: "target", weight: 0.75, density: [{ filter: "mlp", value: 0.3 }, { value: 0.6 }] },
  ],
};

const DARE_TIES_THREE = {
  target: "target",
  method: "dare_ties",
  parameters: { seed: 42, weight: 0.6 },
  vectors: [
    { plus: "plus0", minus: "minus0", density: 0.5 },
    { plus: "plus1", minus: "minus1", density: [0.2, 0.9] },
    { plus: "plus2", minus: "minus2", weight: -0.4, density: 0.7 },
  ],
  control: { kind: "random_sign", seed: 7 },
};

const BREADCRUMBS_THREE = {
  target: "target",
  method: "breadcrumbs",
  parameters: { normalize: true, gamma: 0.05 },
  vectors: [
    { plus: "plus0", minus: "minus0", weight: 1, density: 0.8 },
    { plus: "f16plus", minus: "minus1", weight: 0.5, density: 0.9, gamma: 0.3 },
    { plus: "plus2", minus: "target", weight: 0.25, density: 0.4 },
  ],
  out_dtype: "f32",
};

describe("merge --config: several vectors against the whole-tensor reference", () => {
  it.each([
    ["ties, 2 vectors, a layer gradient and filtered densities", "ties.json", TIES_TWO],
    ["dare_ties, 3 vectors, per-layer density, the random_sign control", "dare-ties.json", DARE_TIES_THREE],
    ["breadcrumbs, 3 vectors, normalize, an F16 donor, out_dtype f32", "breadcrumbs.json", BREADCRUMBS_THREE],
  ])("%s", async (_, file, recipeFields) => {
    const path = await writeRecipe(file, recipeFields);
    const out = join(root, `out-${file}`);
    const result = await runCli(["merge", "--config", path, "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    const recipe = parseRecipeJson(await readFile(path, "utf8"), file, { resolveModelPath: (model) => join(root, model) });
    await expectReferenceMerge(out, recipe);
  }, 60_000);

  it("merge --config OUT/merge_recipe.json reproduces every byte", async () => {
    const out = join(root, "out-ties.json");
    if (!(await exists(out))) {
      const first = await runCli(["merge", "--config", await writeRecipe("ties.json", TIES_TWO), "--out", out]);
      expect(first.code, first.stderr).toBe(0);
    }
    const again = join(root, "again");
    const result = await runCli(["merge", "--config", join(out, "merge_recipe.json"), "--out", again]);
    expect(result.code, result.stderr).toBe(0);
    await expectSameFolder(again, out);
    const recorded = JSON.parse(await readFile(join(again, "merge_recipe.json"), "utf8"));
    expect(recorded.method).toBe("ties");
    expect(recorded.target).toBe(dir("target"));
    expect(recorded.vectors[1].minus).toBe(dir("target"));
  }, 60_000);

  it("a mergekit YAML of the same TIES recipe merges the same bytes as its JSON", async () => {
    const yaml = [
      "merge_method: ties",
      "base_model: target",
      "models:",
      "  - model: plus0",
      "    parameters: {weight: 1.0, density: 0.4}",
      "  - model: plus1",
      "    parameters: {weight: 0.5}",
      "parameters:",
      "  density: 0.7",
      "dtype: bfloat16",
    ].join("\n");
    const yamlPath = join(root, "ties.yml");
    await writeFile(yamlPath, yaml);
    const json = await writeRecipe("ties-as-json.json", {
      target: "target",
      method: "ties",
      parameters: { density: 0.7 },
      vectors: [
        { plus: "plus0", minus: "target", weight: 1, density: 0.4 },
        { plus: "plus1", minus: "target", weight: 0.5 },
      ],
    });
    const [fromYaml, fromJson] = [join(root, "out-yaml"), join(root, "out-yaml-json")];
    for (const [config, out] of [[yamlPath, fromYaml], [json, fromJson]]) {
      const result = await runCli(["merge", "--config", config!, "--out", out!]);
      expect(result.code, result.stderr).toBe(0);
    }
    const [a, b] = [await readTestModel(fromYaml), await readTestModel(fromJson)];
    for (const [name, tensor] of b) expect(Buffer.from(a.get(name)!.data).equals(Buffer.from(tensor.data)), name).toBe(true);
    const parsed = parseRecipeJson(await readFile(json, "utf8"), "json", { resolveModelPath: (model) => join(root, model) });
    await expectReferenceMerge(fromJson, parsed);
  }, 60_000);
});

describe("vocab common", () => {
  it("merges the first C rows with the magnitude statistics over those rows only (N = C x hidden), and copies the target's other rows", async () => {
    const big = join(root, "target-bigvocab");
    await generateQwen2Model({ dir: big, shape: { ...SHAPE, vocabSize: SHAPE.vocabSize + 64 }, dtype: "BF16", initSeed: 5 });
    const path = await writeRecipe("common.json", { ...TIES_TWO, target: "target-bigvocab", vectors: [{ plus: "plus0", minus: "minus0", weight: 1 }], vocab: "common" });
    const out = join(root, "out-common");
    const result = await runCli(["merge", "--config", path, "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    const recipe = parseRecipeJson(await readFile(path, "utf8"), "common.json", { resolveModelPath: (model) => join(root, model) });
    const [target, plus, minus, merged] = [await readTestModel(big), await readTestModel(dir("plus0")), await readTestModel(dir("minus0")), await readTestModel(out)];
    for (const name of ["model.embed_tokens.weight", "lm_head.weight"]) {
      const common = SHAPE.vocabSize * SHAPE.hiddenSize;
      const rows = (read: ReadTensor, end: number): Tensor => ({ dtype: read.dtype as FloatDtype, bits: elementBits(read.dtype, read.data).slice(0, end) });
      const whole = elementBits("BF16", target.get(name)!.data);
      const expected = referenceMerge(resolveTensorRecipe(recipe, name, SHAPE.numLayers), rows(target.get(name)!, common), [{ plus: rows(plus.get(name)!, common), minus: rows(minus.get(name)!, common) }], "BF16");
      expect(elementBits("BF16", merged.get(name)!.data)).toEqual([...expected, ...whole.slice(common)]);
    }
  }, 60_000);
});

describe("merge --check --config", () => {
  it("prints the compatibility report of every input, labelled as in the recipe, and writes nothing", async () => {
    const out = join(root, "never-check");
    const result = await runCli(["merge", "--check", "--config", await writeRecipe("check.json", DARE_TIES_THREE), "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split("\n");
    for (const [label, model] of [["target", "target"], ["vectors[0].plus", "plus0"], ["vectors[1].minus", "minus1"], ["vectors[2].plus", "plus2"]]) {
      expect(lines.some((line) => line.startsWith(`${label} `) && line.includes(dir(model as ModelName))), label).toBe(true);
    }
    expect(result.stderr).toMatch(/compatible: \d+ of \d+ tensors merged/);
    expect(await exists(out)).toBe(false);
  }, 30_000);
});

describe("the one-vector recipe", () => {
  it("through --config equals the --alpha shorthand byte for byte, every file", async () => {
    const byFlags = join(root, "one-flags");
    const flags = await runCli(["merge", "--target", dir("target"), "--plus", dir("plus0"), "--minus", dir("minus0"), "--alpha", "-0.7", "--out", byFlags]);
    expect(flags.code, flags.stderr).toBe(0);
    const byConfig = join(root, "one-config");
    const path = await writeRecipe("one.json", { target: "target", method: "task_arithmetic", vectors: [{ plus: "plus0", minus: "minus0", weight: -0.7 }] });
    const config = await runCli(["merge", "--config", path, "--out", byConfig]);
    expect(config.code, config.stderr).toBe(0);
    await expectSameFolder(byConfig, byFlags);
    await expectReferenceMerge(byConfig, parseRecipeJson(await readFile(path, "utf8"), "one.json", { resolveModelPath: (model) => join(root, model) }));
  }, 60_000);
});

/** A folder source that records the largest read it was asked for. */
function countingSource(source: ModelSource, largest: { bytes: number }): ModelSource {
  return {
    ...source,
    read: (file, offset, length, signal, into) => {
      largest.bytes = Math.max(largest.bytes, length);
      return source.read(file, offset, length, signal, into);
    },
  };
}

describe("chunking", () => {
  const recipe = () => parseRecipeJson(JSON.stringify(TIES_TWO), "ties", { resolveModelPath: (model) => join(root, model) });

  async function mergeWithChunks(chunkBytes: number, out: string, largest = { bytes: 0 }): Promise<void> {
    const { plan, sources } = await openAndPlan(recipe(), async (spec) => countingSource(await openFolderSource(spec), largest));
    try {
      await writeMergedModel(plan, await openNodeFolderSink(out), { shardSize: 5e9, chunkBytes, toolVersion: "test", now: () => new Date("2026-01-01T00:00:00Z") });
    } finally {
      await Promise.all(sources.map((source) => source.close?.()));
    }
  }

  it("1 KiB-ish, 2 MiB and whole-tensor chunks give identical output files", async () => {
    const outs = [1000, 2 * 2 ** 20, 256 * 2 ** 20].map((bytes) => join(root, `chunks-${bytes}`));
    await mergeWithChunks(1000, outs[0]!);
    await mergeWithChunks(2 * 2 ** 20, outs[1]!);
    await mergeWithChunks(256 * 2 ** 20, outs[2]!);
    await expectSameFolder(outs[0]!, outs[1]!);
    await expectSameFolder(outs[2]!, outs[1]!);
    await expectReferenceMerge(outs[0]!, recipe());
  }, 60_000);

  it("the statistics pass of a TIES merge never reads a tensor whole: every read is at most one chunk", async () => {
    const largest = { bytes: 0 };
    const embeddingBytes = SHAPE.vocabSize * SHAPE.hiddenSize * 2;
    await mergeWithChunks(4096, join(root, "bounded"), largest);
    expect(embeddingBytes).toBeGreaterThan(4 * 4096);
    // Config and tokenizer files are read whole; weights never more than a chunk.
    const configBytes = (await stat(join(dir("target"), "config.json"))).size;
    expect(largest.bytes).toBeLessThanOrEqual(Math.max(4096, configBytes, (await stat(join(dir("target"), "generation_config.json"))).size));
  }, 60_000);
});

describe("merge --resume of a TIES recipe", () => {
  it("an interrupted merge, resumed from its last checkpoint (statistics computed again for the tensor it stopped in), ends with the uninterrupted merge's bytes", async () => {
    const path = await writeRecipe("resume.json", TIES_TWO);
    const recipe = parseRecipeJson(await readFile(path, "utf8"), "resume.json", { resolveModelPath: (model) => join(root, model) });
    const out = join(root, "resumed");
    const { plan, sources } = await openAndPlan(recipe, (spec) => openFolderSource(spec));
    const controller = new AbortController();
    let chunks = 0;
    const merge = writeMergedModel(plan, await openNodeFolderSink(out), {
      // As the CLI's defaults, so that the journal's identity is the one `merge --resume` computes.
      shardSize: parseByteSize("5GB"),
      chunkBytes: 1000,
      checkpointBytes: 1000,
      toolVersion: TOOL_VERSION,
      journal: "start",
      signal: controller.signal,
      onProgress: () => {
        if (++chunks === 40) controller.abort(new Error("interrupted"));
      },
    });
    await expect(merge).rejects.toThrow("interrupted");
    await Promise.all(sources.map((source) => source.close?.()));
    const journal = JSON.parse(await readFile(join(`${out}.partial`, "merge-journal.json"), "utf8")) as { checkpoint: { size: number } | null };
    expect(journal.checkpoint?.size).toBeGreaterThan(0);
    const resumed = await runCli(["merge", "--config", path, "--out", out, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .*continued from its last checkpoint/);
    await expectReferenceMerge(out, recipe);
  }, 60_000);
});

describe("bad recipes: one line naming the field and the value, no output", () => {
  const cases: [string, string, string, RegExp][] = [
    ["an unknown method", "bad-method.json", JSON.stringify({ ...TIES_TWO, method: "slerp" }), /bad-method\.json: method: unknown method "slerp"/],
    ["a density above 1", "bad-density.json", JSON.stringify({ ...TIES_TWO, parameters: { density: 1.5 } }), /parameters\.density: 1\.5 is outside \[0, 1\]/],
    ["a gamma above 1", "bad-gamma.json", JSON.stringify({ ...BREADCRUMBS_THREE, parameters: { gamma: 2 } }), /parameters\.gamma: 2 is outside \[0, 1\]/],
    ["a gradient with no numbers", "bad-gradient.json", JSON.stringify({ ...TIES_TWO, vectors: [{ plus: "plus0", minus: "minus0", weight: [] }] }), /vectors\[0\]\.weight: a gradient with no numbers/],
    ["conditions without a default", "bad-filters.json", JSON.stringify({ ...TIES_TWO, vectors: [{ plus: "plus0", minus: "minus0", weight: [{ filter: "mlp", value: 1 }] }] }), /vectors\[0\]\.weight: conditions without a default/],
    ["a NaN weight (mergekit YAML)", "bad-nan.yml", "merge_method: ties\nbase_model: target\nmodels:\n  - model: plus0\n    parameters: {weight: .nan}\n", /bad-nan\.yml: models\[0\]\.parameters\.weight: .*NaN.* is not a finite number/],
    ["a mergekit YAML with slices", "bad-slices.yml", "merge_method: ties\nslices:\n  - sources: []\n", /bad-slices\.yml: slices: /],
    ["a mergekit YAML with another tokenizer source", "bad-tokenizer.yml", "merge_method: ties\nbase_model: target\ntokenizer_source: union\nmodels:\n  - model: plus0\n    parameters: {weight: 1}\n", /bad-tokenizer\.yml: tokenizer_source: /],
    ["a mergekit YAML of an unsupported method", "bad-slerp.yml", "merge_method: slerp\nbase_model: target\nmodels:\n  - model: plus0\n", /bad-slerp\.yml: merge_method: .*slerp/],
  ];
  it.each(cases)("%s", async (_, file, text, message) => {
    const path = join(root, file);
    await writeFile(path, text);
    const out = join(root, `never-${file}`);
    const result = await runCli(["merge", "--config", path, "--out", out]);
    expect(result.code).not.toBe(0);
    const errors = result.stderr.split("\n").filter((line) => line.startsWith("error: "));
    expect(errors, result.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(await exists(out)).toBe(false);
    expect(await exists(`${out}.partial`)).toBe(false);
  }, 30_000);

  it("a vector whose models do not match the target's tensors is refused, naming the vector", async () => {
    const other = join(root, "other-shape");
    await generateQwen2Model({ dir: other, shape: { ...SHAPE, intermediateSize: 48 }, dtype: "BF16", initSeed: 5, variantSeed: 99 });
    const path = await writeRecipe("bad-shapes.json", { ...TIES_TWO, vectors: [TIES_TWO.vectors[0], { plus: "other-shape", minus: "target", weight: 1 }] });
    const out = join(root, "never-shapes");
    const result = await runCli(["merge", "--config", path, "--out", out]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: cannot merge: config\.json intermediate_size differs: target 64, vectors\[0\]\.plus 64, vectors\[0\]\.minus 64, vectors\[1\]\.plus 48, vectors\[1\]\.minus 64/);
    expect(await exists(out)).toBe(false);
  }, 30_000);

  it("--config with a recipe flag, or a file of another kind, is a usage error in one line", async () => {
    const path = await writeRecipe("usage.json", TIES_TWO);
    const both = await runCli(["merge", "--config", path, "--alpha", "1", "--out", join(root, "never-usage")]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/error: --config gives the whole recipe: drop --alpha/);
    const text = join(root, "recipe.txt");
    await writeFile(text, "{}");
    const other = await runCli(["merge", "--config", text, "--out", join(root, "never-usage")]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/error: --config .*recipe\.txt: give a recipe \.json or a mergekit \.yml \/ \.yaml, not "\.txt"/);
  }, 30_000);
});
