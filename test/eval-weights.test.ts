import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import type { VocabMode } from "../src/core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { mergedTensorLoader } from "../src/eval/weights/mergedTensorLoader.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { mergeSources } from "./helpers/mergeFolders.ts";

let root: string;
const opened: ModelSource[] = [];
async function open(dir: string): Promise<ModelSource> {
  const source = await openFolderSource(join(root, dir));
  opened.push(source);
  return source;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "eval-weights-"));
  const tiny = QWEN2_PRESETS.tiny;
  const roles = [
    ["target", tiny, undefined],
    ["plus", tiny, 1],
    ["minus", tiny, 2],
    ["minus-bigvocab", { ...tiny, vocabSize: tiny.vocabSize + 64 }, 2],
  ] as const;
  for (const [role, shape, variantSeed] of roles) {
    await generateQwen2Model({ dir: join(root, role), shape, dtype: "BF16", initSeed: 7, variantSeed, noiseScale: 0.1, shardSize: 40_000 });
  }
});
afterAll(async () => {
  for (const source of opened) await source.close?.();
  await rm(root, { recursive: true, force: true });
});

/**
 * The evaluator's merged tensors must be the saved merge's values: each is compared bit for bit with
 * the tensor read back from the folder that writeMergedModel wrote for the same recipe.
 */
describe("mergedTensorLoader", () => {
  it.each([
    [1, undefined, "minus", "exact"],
    [-0.5, "F16", "minus", "exact"],
    [0.3, "F32", "minus-bigvocab", "common"],
  ] as [number, FloatDtype | undefined, string, VocabMode][])("gives the saved merge's values (alpha %s, out %s, %s, vocab %s)", async (alpha, outDtype, minusDir, vocab) => {
    const sources = { target: await open("target"), plus: await open("plus"), minus: await open(minusDir) };
    const out = join("out", `${alpha}-${outDtype}-${vocab}`);
    const { plan } = await mergeSources(sources, { alpha, outDtype, vocab, out: join(root, out) });
    const saved = modelTensorLoader(await inspectModel(await open(out)));
    const merged = mergedTensorLoader(plan);
    expect(plan.tensors.length).toBeGreaterThan(10);
    for (const tensor of plan.tensors) {
      const [got, expected] = [await merged(tensor.name), await saved(tensor.name)];
      expect(got.length, tensor.name).toBe(expected.length);
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer)), tensor.name).toBe(true);
    }
    const target = modelTensorLoader(await inspectModel(sources.target));
    const name = "model.layers.0.mlp.down_proj.weight";
    const [mergedValues, targetValues] = [await merged(name), await target(name)];
    expect(mergedValues.some((value, i) => value !== targetValues[i])).toBe(true);
  });

  it("reads any range of elements of a tensor as the same values as the whole, and refuses a range outside it", async () => {
    const sources = { target: await open("target"), plus: await open("plus"), minus: await open("minus") };
    const { plan } = await mergeSources(sources, { alpha: 0.7, out: join(root, "out", "ranges") });
    const name = "model.embed_tokens.weight";
    for (const loader of [mergedTensorLoader(plan), modelTensorLoader(await inspectModel(sources.target))]) {
      const whole = await loader(name);
      for (const [start, end] of [[0, 0], [0, 1], [5, whole.length - 3], [whole.length - 1, whole.length], [0, whole.length]]) {
        const part = await loader(name, { start: start!, end: end! });
        expect(Buffer.from(part.buffer, part.byteOffset, part.byteLength).equals(Buffer.from(whole.subarray(start, end).slice().buffer)), `${start}..${end}`).toBe(true);
      }
      await expect(loader(name, { start: 10, end: whole.length + 1 })).rejects.toThrow(`tensor ${name}: elements 10..${whole.length + 1} are not within its ${whole.length}`);
      await expect(loader(name, { start: 5, end: 4 })).rejects.toThrow(RangeError);
    }
  });

  it("refuses a plan with errors and names a missing tensor", async () => {
    const sources = { target: await open("target"), plus: await open("plus"), minus: await open("minus") };
    const { plan } = await mergeSources(sources, { alpha: 1, out: join(root, "out", "names") });
    await expect(mergedTensorLoader(plan)("model.layers.9.mlp.up_proj.weight")).rejects.toThrow("the merged model has no tensor model.layers.9.mlp.up_proj.weight");
    expect(() => mergedTensorLoader({ ...plan, ok: false })).toThrow(/cannot be merged/);
  });

  it.each([
    ["ties", { density: 0.4 }],
    ["breadcrumbs_ties", { density: 0.6, gamma: 0.1 }],
    ["dare_linear", { density: 0.5, seed: 3 }],
  ] as const)("gives the saved merge's values for a 2-vector %s recipe with vocab common, per-tensor statistics included", async (method, parameters) => {
    const recipe = parseRecipeJson(
      JSON.stringify({
        target: "minus-bigvocab",
        method,
        parameters,
        vectors: [
          { plus: "plus", minus: "minus", weight: [0.5, 1] },
          { plus: "minus", minus: "target", weight: 0.8 },
        ],
        vocab: "common",
      }),
      "recipe.json",
      { resolveModelPath: (path) => join(root, path) },
    );
    const { plan, sources } = await openAndPlan(recipe, (spec) => openFolderSource(spec));
    opened.push(...sources);
    const out = join("out", `recipe-${method}`);
    await writeMergedModel(plan, await openNodeFolderSink(join(root, out)), { shardSize: 40_000, chunkBytes: 3000, toolVersion: "test" });
    const saved = modelTensorLoader(await inspectModel(await open(out)));
    const merged = mergedTensorLoader(plan);
    const embedding = plan.tensors.find((tensor) => tensor.name === "model.embed_tokens.weight")!;
    expect(embedding.mergedElements).toBeLessThan(embedding.shape[0]! * embedding.shape[1]!);
    for (const tensor of plan.tensors) {
      const [got, expected] = [await merged(tensor.name), await saved(tensor.name)];
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer)), tensor.name).toBe(true);
    }
  });
});
