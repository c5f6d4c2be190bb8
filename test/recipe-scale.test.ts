import { describe, expect, it } from "vitest";
import { defaultRecipeParameters, type MergeRecipe, type RecipeVector } from "../src/core/recipe/MergeRecipe.ts";
import { resolveTensorRecipe } from "../src/core/recipe/resolveTensorRecipe.ts";
import { scaleRecipeWeights } from "../src/core/recipe/scaleRecipeWeights.ts";

const recipeOf = (vectors: RecipeVector[], parameters: Partial<MergeRecipe["parameters"]> = {}): MergeRecipe => ({
  target: "org/t",
  method: "task_arithmetic",
  parameters: { ...defaultRecipeParameters("task_arithmetic"), ...parameters },
  vectors,
  vocab: "exact",
});

describe("scaleRecipeWeights", () => {
  it("makes the one-vector recipe of weight 1 the recipe of weight alpha", () => {
    const recipe = recipeOf([{ plus: "org/p", minus: "org/m", weight: 1 }]);
    for (const alpha of [-1, 0, 0.5, 1.5]) {
      expect(scaleRecipeWeights(recipe, alpha)).toStrictEqual(recipeOf([{ plus: "org/p", minus: "org/m", weight: alpha }]));
    }
  });

  it("scales numbers, gradient points and condition values, and takes parameters.weight where a vector has none", () => {
    const recipe = recipeOf(
      [
        { plus: "org/a", minus: "org/b", weight: [1, 3, 2] },
        { plus: "org/c", minus: "org/d", weight: [{ filter: "mlp", value: [0.5, 1] }, { value: 2 }] },
        { plus: "org/e", minus: "org/f" },
      ],
      { weight: 0.25 },
    );
    const scaled = scaleRecipeWeights(recipe, -2);
    expect(scaled.vectors.map((vector) => vector.weight)).toStrictEqual([[-2, -6, -4], [{ filter: "mlp", value: [-1, -2] }, { value: -4 }], -0.5]);
    expect(scaled.parameters).toStrictEqual(recipe.parameters);
    expect(recipe.vectors[0]!.weight).toStrictEqual([1, 3, 2]);
    const weights = (r: MergeRecipe, name: string) => resolveTensorRecipe(r, name, 5).terms.map((term) => term.weight);
    for (const name of ["model.embed_tokens.weight", "model.layers.1.mlp.up_proj.weight", "model.layers.3.self_attn.q_proj.weight", "lm_head.weight"]) {
      expect(weights(scaled, name)).toStrictEqual(weights(recipe, name).map((weight) => Math.fround(-2 * weight)));
    }
  });

  it("refuses normalize (the sum of the weights would cancel alpha), a vector without a weight, and a non-finite alpha", () => {
    const vector = { plus: "org/p", minus: "org/m", weight: 1 };
    expect(() => scaleRecipeWeights(recipeOf([vector], { normalize: true }), 2)).toThrow("set normalize to false to sweep alpha");
    expect(() => scaleRecipeWeights(recipeOf([vector, { plus: "org/a", minus: "org/b" }]), 2)).toThrow("vectors[1]: no weight to scale");
    expect(() => scaleRecipeWeights(recipeOf([vector]), Number.NaN)).toThrow("alpha must be a finite number, not NaN");
  });
});
