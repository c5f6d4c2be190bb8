import { defaultRecipeParameters, type MergeRecipe } from "../../src/core/recipe/MergeRecipe.ts";

/** The studio's one-vector reasoning-vector recipe with the slider at `alpha`, as the page's specs name the models (unpinned). */
export const sliderRecipe = (alpha: number): MergeRecipe => ({
  target: "demo/T",
  method: "task_arithmetic",
  parameters: defaultRecipeParameters("task_arithmetic"),
  vectors: [{ plus: "demo/P", minus: "demo/M", weight: alpha }],
  vocab: "exact",
});
