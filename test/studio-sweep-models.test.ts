import { describe, expect, it } from "vitest";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { planSweepModels, type SweepSettings } from "../src/ui/state/sweepModels.ts";
import { sliderRecipe } from "./helpers/sliderRecipe.ts";

const settings = (changes: Partial<SweepSettings> = {}): SweepSettings => ({
  models: { target: true, merged: true, plus: false, minus: false },
  alphas: [],
  reversed: false,
  randomSign: false,
  controlAlpha: 1,
  controlSeed: 0,
  ...changes,
});
/** What each planned model is, and the vector weights and control of the recipe its worker merges. */
const summary = (recipe: MergeRecipe, changes: Partial<SweepSettings>) =>
  planSweepModels(recipe, settings(changes)).map(({ label, kind, alpha, control, recipe: merged }) => ({
    label,
    kind,
    alpha,
    control,
    weights: merged?.vectors.map((vector) => vector.weight) ?? null,
    recipeControl: merged?.control ?? null,
  }));

describe("planSweepModels", () => {
  it("gives one model per worker: the target once, each alpha as the one vector's weight whatever the slider says, then the controls", () => {
    expect(summary(sliderRecipe(0.7), { alphas: [-0.5, 0.5, 1.5], reversed: true, randomSign: true, controlAlpha: 1, controlSeed: 7 })).toEqual([
      { label: "target", kind: "target", alpha: null, control: null, weights: null, recipeControl: null },
      { label: "alpha -0.5", kind: "merged", alpha: -0.5, control: null, weights: [-0.5], recipeControl: null },
      { label: "alpha 0.5", kind: "merged", alpha: 0.5, control: null, weights: [0.5], recipeControl: null },
      { label: "alpha 1.5", kind: "merged", alpha: 1.5, control: null, weights: [1.5], recipeControl: null },
      { label: "reversed (alpha -1)", kind: "merged", alpha: -1, control: "reversed", weights: [-1], recipeControl: null },
      { label: "random-sign control (alpha 1)", kind: "merged", alpha: 1, control: "random-sign", weights: [1], recipeControl: { kind: "random_sign", seed: 7 } },
    ]);
  });

  it("without alphas evaluates the recipe as set (the existing one-alpha flow)", () => {
    expect(summary(sliderRecipe(0.7), {})).toEqual([
      { label: "target", kind: "target", alpha: null, control: null, weights: null, recipeControl: null },
      { label: "alpha 0.7", kind: "merged", alpha: 0.7, control: null, weights: [0.7], recipeControl: null },
    ]);
  });

  it("scales every weight of a recipe of several vectors, and leaves out the models not chosen", () => {
    const recipe: MergeRecipe = {
      ...sliderRecipe(1),
      method: "ties",
      parameters: { ...defaultRecipeParameters("ties"), normalize: false },
      vectors: [
        { plus: "demo/P", minus: "demo/M", weight: 0.5 },
        { plus: "demo/Q", minus: "demo/M", weight: [1, 2] },
      ],
    };
    expect(summary(recipe, { models: { target: false, merged: true, plus: true, minus: true }, alphas: [2] })).toEqual([
      { label: "alpha 2", kind: "merged", alpha: 2, control: null, weights: [1, [2, 4]], recipeControl: null },
      { label: "plus", kind: "plus", alpha: null, control: null, weights: null, recipeControl: null },
      { label: "minus", kind: "minus", alpha: null, control: null, weights: null, recipeControl: null },
    ]);
    expect(summary(recipe, { models: { target: false, merged: true, plus: false, minus: false } })).toEqual([
      { label: "alpha 1", kind: "merged", alpha: 1, control: null, weights: [0.5, [1, 2]], recipeControl: null },
    ]);
  });

  it("refuses a run with no model, a control without a number, and a recipe whose alpha cancels", () => {
    expect(() => planSweepModels(sliderRecipe(1), settings({ models: { target: false, merged: false, plus: false, minus: false } }))).toThrow("Choose at least one model to evaluate.");
    expect(() => planSweepModels(sliderRecipe(1), settings({ reversed: true, controlAlpha: Number.NaN }))).toThrow("the controls' alpha must be a finite number, not NaN");
    expect(() => planSweepModels(sliderRecipe(1), settings({ randomSign: true, controlSeed: -1 }))).toThrow("seed must be an integer from 0 to 4294967295, not -1");
    const normalized: MergeRecipe = { ...sliderRecipe(1), method: "ties", parameters: defaultRecipeParameters("ties") };
    expect(() => planSweepModels(normalized, settings({ alphas: [0.5] }))).toThrow("normalize");
  });
});
