import { DTYPE_BYTES, type FloatDtype } from "../../src/core/dtypes.ts";
import type { ChunkTask } from "../../src/core/engine/ChunkComputer.ts";
import type { FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import type { ModelInfo } from "../../src/core/model/inspectModel.ts";
import { planMerge, type MergePlan } from "../../src/core/plan/planMerge.ts";
import { defaultRecipeParameters, type MergeRecipe, type VocabMode } from "../../src/core/recipe/MergeRecipe.ts";
import type { TensorRecipe } from "../../src/core/recipe/TensorRecipe.ts";

/** The reasoning-vector recipe target + alpha * (plus - minus) as a MergeRecipe (specs: the role names unless given). */
export function oneVectorRecipe(alpha: number, options: { outDtype?: FloatDtype; vocab?: VocabMode; specs?: { target: string; plus: string; minus: string } } = {}): MergeRecipe {
  const specs = options.specs ?? { target: "./target", plus: "./plus", minus: "./minus" };
  const recipe: MergeRecipe = {
    target: specs.target,
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    vectors: [{ plus: specs.plus, minus: specs.minus, weight: alpha }],
    vocab: options.vocab ?? "exact",
  };
  if (options.outDtype) recipe.out_dtype = options.outDtype;
  return recipe;
}

/** planMerge of three inspected models under the one-vector recipe, each model named by its Hub id or folder. */
export function planOneVector(models: { target: ModelInfo; plus: ModelInfo; minus: ModelInfo }, alpha: number, options: { outDtype?: FloatDtype; vocab?: VocabMode } = {}): MergePlan {
  const spec = (model: ModelInfo) => model.source.repoId ?? model.source.label;
  const specs = { target: spec(models.target), plus: spec(models.plus), minus: spec(models.minus) };
  return planMerge({ target: models.target, vectors: [{ plus: models.plus, minus: models.minus }] }, oneVectorRecipe(alpha, { ...options, specs }));
}

/** A merge task of one task-arithmetic term over one tensor segment: what the engine sends for the one-vector recipe. */
export function oneTermTask(alpha: number, target: FloatChunk, plus: FloatChunk, minus: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): ChunkTask {
  const recipe: TensorRecipe = {
    tensorName: "test.weight",
    method: "task_arithmetic",
    terms: [{ index: 0, weight: Math.fround(alpha), density: 1, gamma: 0.01 }],
    normalize: false,
    rescale: true,
    seed: 0,
  };
  const elements = target.bytes.byteLength / DTYPE_BYTES[target.dtype];
  return { kind: "merge", outDtype, target, terms: [{ plus, minus }], segments: [{ recipe, firstElement: 0, elements }], ...(into ? { into } : {}) };
}
