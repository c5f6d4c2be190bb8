import { describe, expect, it } from "vitest";
import { tensorPosition } from "../src/core/recipe/evaluateSetting.ts";
import { defaultRecipeParameters, type MergeRecipe, type RecipeVector } from "../src/core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import { resolveTensorRecipe } from "../src/core/recipe/resolveTensorRecipe.ts";
import type { RecipeMethodId, TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

const L = 5;
const recipeOf = (method: RecipeMethodId, vectors: RecipeVector[], parameters: Partial<MergeRecipe["parameters"]> = {}): MergeRecipe => ({
  target: "org/t",
  method,
  parameters: { ...defaultRecipeParameters(method), ...parameters },
  vectors,
  vocab: "exact",
});
const weightsOf = (recipe: TensorRecipe) => recipe.terms.map((term) => term.weight);

describe("tensorPosition", () => {
  it("is 0 before the layers and for other names, i/(L-1) in the layers, 1 after them", () => {
    expect(tensorPosition("model.embed_tokens.weight", L)).toBe(0);
    expect(tensorPosition("model.rotary_emb.inv_freq", L)).toBe(0);
    expect(tensorPosition("model.layers_extra.3.weight", L)).toBe(0);
    expect([0, 1, 2, 3, 4].map((i) => tensorPosition(`model.layers.${i}.mlp.up_proj.weight`, L))).toStrictEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(tensorPosition("model.norm.weight", L)).toBe(1);
    expect(tensorPosition("lm_head.weight", L)).toBe(1);
    expect(tensorPosition("model.layers.0.input_layernorm.weight", 1)).toBe(1);
  });

  it("refuses a layer past num_hidden_layers, and a num_hidden_layers that is not a positive integer", () => {
    expect(() => tensorPosition("model.layers.5.mlp.up_proj.weight", L)).toThrow('tensor "model.layers.5.mlp.up_proj.weight": layer 5 is outside num_hidden_layers 5');
    expect(() => tensorPosition("model.norm.weight", 0)).toThrow("num_hidden_layers 0 is not a positive integer");
    expect(() => tensorPosition("model.norm.weight", 2.5)).toThrow("num_hidden_layers 2.5 is not a positive integer");
  });
});

describe("resolveTensorRecipe", () => {
  it("reads a 3-point gradient over 5 layers by linear interpolation, and at its ends outside the layers", () => {
    const recipe = recipeOf("task_arithmetic", [{ plus: "org/a", minus: "org/b", weight: [1, 3, 2] }]);
    const at = (name: string) => weightsOf(resolveTensorRecipe(recipe, name, L))[0];
    // t = i/4, scaled = t * 2: 0, 0.5, 1, 1.5, 2.
    expect([0, 1, 2, 3, 4].map((i) => at(`model.layers.${i}.self_attn.q_proj.weight`))).toStrictEqual([1, 2, 3, 2.5, 2]);
    expect(at("model.embed_tokens.weight")).toBe(1);
    expect(at("model.norm.weight")).toBe(2);
    expect(at("lm_head.weight")).toBe(2);
    expect(weightsOf(resolveTensorRecipe(recipe, "model.layers.0.mlp.up_proj.weight", 1))).toStrictEqual([2]);
  });

  it("rounds the weight to float32 and keeps density and gamma in float64", () => {
    const recipe = recipeOf("breadcrumbs", [{ plus: "org/a", minus: "org/b", weight: 0.1, density: [0.3, 0.6], gamma: 0.1 }]);
    const resolved = resolveTensorRecipe(recipe, "model.layers.2.mlp.up_proj.weight", L);
    expect(resolved.terms).toStrictEqual([{ index: 0, weight: 0.10000000149011612, density: 0.44999999999999996, gamma: 0.1 }]);
  });

  it("takes the first condition whose filter is absent, \"*\" or a substring of the name; a condition's value may be a gradient", () => {
    const weight = [{ filter: "mlp", value: 0.5 }, { filter: "self_attn", value: [0, 1] }, { value: 4 }];
    const recipe = recipeOf("task_arithmetic", [{ plus: "org/a", minus: "org/b", weight }]);
    const at = (name: string) => weightsOf(resolveTensorRecipe(recipe, name, L));
    expect(at("model.layers.2.mlp.up_proj.weight")).toStrictEqual([0.5]);
    expect(at("model.layers.3.self_attn.q_proj.weight")).toStrictEqual([0.75]);
    expect(at("model.layers.0.self_attn.q_proj.weight")).toStrictEqual([]);
    expect(at("model.embed_tokens.weight")).toStrictEqual([4]);
    const star = recipeOf("task_arithmetic", [{ plus: "org/a", minus: "org/b", weight: [{ filter: "*", value: 2 }, { filter: "mlp", value: 3 }] }]);
    expect(weightsOf(resolveTensorRecipe(star, "model.layers.1.mlp.up_proj.weight", L))).toStrictEqual([2]);
  });

  it("falls back from the vector's setting to the recipe's parameters, then to the defaults", () => {
    const recipe = parseRecipeJson(
      JSON.stringify({
        target: "org/t",
        method: "breadcrumbs_ties",
        parameters: { weight: 0.5, density: 0.75 },
        vectors: [
          { plus: "org/a", minus: "org/b" },
          { plus: "org/c", minus: "org/d", weight: 2, density: 0.25, gamma: 0.5 },
        ],
      }),
      "recipe.json",
    );
    const resolved = resolveTensorRecipe(recipe, "model.layers.1.mlp.up_proj.weight", L);
    expect(resolved).toStrictEqual({
      tensorName: "model.layers.1.mlp.up_proj.weight",
      method: "breadcrumbs_ties",
      terms: [
        { index: 0, weight: 0.5, density: 0.75, gamma: 0.01 },
        { index: 1, weight: 2, density: 0.25, gamma: 0.5 },
      ],
      normalize: false,
      rescale: true,
      seed: 0,
    });
  });

  it("drops terms whose weight rounds to float32 0 or whose density is 0 under a sparsifying method, keeping each term's recipe index", () => {
    const vectors: RecipeVector[] = [
      { plus: "org/a", minus: "org/b", weight: 1e-46 },
      { plus: "org/c", minus: "org/d", weight: [0, 1] },
      { plus: "org/e", minus: "org/f", weight: 3, density: [0, 1] },
      { plus: "org/g", minus: "org/h", weight: 4, density: 0.5 },
    ];
    const tiesAt = (name: string) => resolveTensorRecipe(recipeOf("ties", vectors), name, L).terms;
    expect(tiesAt("model.embed_tokens.weight")).toStrictEqual([{ index: 3, weight: 4, density: 0.5, gamma: 0.01 }]);
    expect(tiesAt("lm_head.weight")).toStrictEqual([
      { index: 1, weight: 1, density: 1, gamma: 0.01 },
      { index: 2, weight: 3, density: 1, gamma: 0.01 },
      { index: 3, weight: 4, density: 0.5, gamma: 0.01 },
    ]);
    // Without sparsification density is ignored (1): a density of 0 drops nothing.
    expect(resolveTensorRecipe(recipeOf("task_arithmetic", vectors), "model.embed_tokens.weight", L).terms).toStrictEqual([
      { index: 2, weight: 3, density: 1, gamma: 0.01 },
      { index: 3, weight: 4, density: 1, gamma: 0.01 },
    ]);
    expect(resolveTensorRecipe(recipeOf("dare_linear", vectors), "model.embed_tokens.weight", L).terms.map((term) => term.index)).toStrictEqual([3]);
  });

  it("carries normalize, rescale, seed and the control", () => {
    const recipe: MergeRecipe = { ...recipeOf("dare_ties", [{ plus: "org/a", minus: "org/b", weight: 1 }], { normalize: true, rescale: false, seed: 99 }), control: { kind: "random_sign", seed: 7 } };
    const resolved = resolveTensorRecipe(recipe, "model.norm.weight", L);
    expect({ normalize: resolved.normalize, rescale: resolved.rescale, seed: resolved.seed, control: resolved.control }).toStrictEqual({ normalize: true, rescale: false, seed: 99, control: { kind: "random_sign", seed: 7 } });
    expect(resolveTensorRecipe(recipeOf("ties", [{ plus: "org/a", minus: "org/b", weight: 1 }]), "model.norm.weight", L).normalize).toBe(true);
  });

  it("refuses a hand-built recipe whose weight resolves to nothing or to an infinite float32", () => {
    expect(() => resolveTensorRecipe(recipeOf("ties", [{ plus: "org/a", minus: "org/b" }]), "model.norm.weight", L)).toThrow("vectors[0]: no weight");
    expect(() => resolveTensorRecipe(recipeOf("ties", [{ plus: "org/a", minus: "org/b", weight: 1e39 }]), "model.norm.weight", L)).toThrow('vectors[0].weight is infinite in float32 for tensor "model.norm.weight"');
  });
});
