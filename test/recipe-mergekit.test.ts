import { describe, expect, it } from "vitest";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { parseMergekitYaml } from "../src/core/recipe/parseMergekitYaml.ts";
import { renderMergekitYaml } from "../src/core/recipe/renderMergekitYaml.ts";
import { RECIPE_METHODS } from "../src/core/recipe/TensorRecipe.ts";
import { expectOneLineError } from "./helpers/expectOneLineError.ts";

const source = "merge.yml";
const parse = (text: string) => parseMergekitYaml(text, source);

/** What parseMergekitYaml must make of a hand-written config: the recipe spelled out in full. */
describe("parseMergekitYaml", () => {
  it("reads a TIES config: target = base_model, one vector per other model, settings as written", () => {
    const yaml = `
merge_method: ties
base_model: Qwen/Qwen2.5-1.5B
models:
  - model: Qwen/Qwen2.5-1.5B
  - model: org/math
    parameters:
      weight: [0.2, 0.5, 1]
      density: 0.5
  - model: ./local/code
    parameters:
      weight:
        - filter: mlp
          value: 0.3
        - value: [0, 1]
parameters:
  normalize: yes
  int8_mask: true
  density: 0.7
dtype: bfloat16
tokenizer_source: base
`;
    const expected: MergeRecipe = {
      target: "Qwen/Qwen2.5-1.5B",
      method: "ties",
      parameters: { normalize: true, rescale: true, seed: 0, density: 0.7, gamma: 0.01 },
      vectors: [
        { plus: "org/math", minus: "Qwen/Qwen2.5-1.5B", weight: [0.2, 0.5, 1], density: 0.5 },
        { plus: "./local/code", minus: "Qwen/Qwen2.5-1.5B", weight: [{ filter: "mlp", value: 0.3 }, { value: [0, 1] }] },
      ],
      out_dtype: "BF16",
      vocab: "exact",
    };
    expect(parse(yaml)).toStrictEqual(expected);
  });

  it("reads DARE's rescale and merge-studio's seed, and lets out_dtype win over dtype", () => {
    const yaml = "merge_method: dare_linear\nbase_model: a/base\nmodels:\n  - model: a/x\nparameters:\n  weight: 0.5\n  rescale: false\n  seed: 42\n  gamma: 0.02\ndtype: float32\nout_dtype: torch.float16\n";
    expect(parse(yaml)).toStrictEqual({
      target: "a/base",
      method: "dare_linear",
      parameters: { normalize: false, rescale: false, seed: 42, weight: 0.5, density: 1, gamma: 0.02 },
      vectors: [{ plus: "a/x", minus: "a/base" }],
      out_dtype: "F16",
      vocab: "exact",
    });
  });

  it("reads the paper's linear config (design.md) as the one-vector recipe", () => {
    const yaml = `
models:
  - model: Qwen/Qwen2.5-Math-1.5B
    parameters:
      weight: 1.0
  - model: michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-GRPO
    parameters:
      weight: 1.0
  - model: michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-SFT
    parameters:
      weight: -1.0
merge_method: linear
parameters:
  normalize: false
dtype: bfloat16
`;
    expect(parse(yaml)).toStrictEqual({
      target: "Qwen/Qwen2.5-Math-1.5B",
      method: "task_arithmetic",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [{ plus: "michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-GRPO", minus: "michaelbzhu/Qwen2.5-Math-1.5B-GSM8K-SFT", weight: 1 }],
      out_dtype: "BF16",
      vocab: "exact",
    });
  });

  it("resolves model paths through the caller's function, Hub ids as written; y is a name, as in PyYAML", () => {
    const yaml = "merge_method: task_arithmetic\nbase_model: ./base\nmodels:\n  - model: org/x@rev\n    parameters: {weight: 1}\n  - model: y\n    parameters: {weight: 2}\n";
    const recipe = parseMergekitYaml(yaml, source, { resolveModelPath: (path) => `/cfg/${path}` });
    expect(recipe.target).toBe("/cfg/./base");
    expect(recipe.vectors).toStrictEqual([
      { plus: "org/x@rev", minus: "/cfg/./base", weight: 1 },
      { plus: "/cfg/y", minus: "/cfg/./base", weight: 2 },
    ]);
  });

  const task = (rest: string) => `merge_method: ties\nbase_model: a/base\nmodels:\n  - model: a/x\n    parameters:\n      weight: 1\n${rest}`;
  const linear = (weights: [string, string, string], rest = "parameters:\n  normalize: false\n") =>
    `merge_method: linear\nmodels:\n  - model: a/t\n    parameters: {weight: ${weights[0]}}\n  - model: a/p\n    parameters: {weight: ${weights[1]}}\n  - model: a/m\n    parameters: {weight: ${weights[2]}}\n${rest}`;
  const badInputs: Array<[string, string, string]> = [
    ["not YAML", "a: [1", "merge.yml: not valid YAML: Flow sequence in block collection must be sufficiently indented"],
    ["a duplicate key", task("dtype: float32\ndtype: float16\n"), "merge.yml: not valid YAML: Map keys must be unique at line"],
    ["two documents", task("---\nb: 1\n"), "merge.yml: not valid YAML: Source contains multiple documents"],
    ["a Python tag", task("dtype: !!python/name:os.system x\n"), "merge.yml: not valid YAML: Unresolved tag"],
    ["an unknown alias", task("dtype: *nothing\n"), "merge.yml: not valid YAML"],
    ["slices", "merge_method: ties\nslices:\n  - sources: []\n", "merge.yml: slices: slices are not supported"],
    ["tokenizer_source union", task("tokenizer_source: union\n"), 'merge.yml: tokenizer_source: "union": only the base model\'s tokenizer is supported'],
    ["a tokenizer block", task("tokenizer:\n  source: union\n"), "merge.yml: tokenizer: not supported"],
    ["another method", task("").replace("ties", "slerp"), 'merge.yml: merge_method: "slerp" is not supported (supported: task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, and linear in the reasoning-vector form)'],
    ["della", task("").replace("ties", "della"), 'merge.yml: merge_method: "della" is not supported'],
    ["an unknown top-level field", task("name: x\n"), 'merge.yml: unknown field "name"'],
    ["an unknown model parameter", task("").replace("weight: 1", "weight: 1\n      epsilon: 0.1"), 'merge.yml: models[0].parameters: unknown field "epsilon" (known: weight, density, gamma)'],
    ["an unknown parameter", task("parameters:\n  lambda: 1\n"), 'merge.yml: parameters: unknown field "lambda"'],
    ["density above 1", task("parameters:\n  density: 1.5\n"), "merge.yml: parameters.density: 1.5 is outside [0, 1]"],
    ["a NaN weight", task("").replace("weight: 1", "weight: .nan"), "merge.yml: models[0].parameters.weight: NaN is not a finite number"],
    ["an infinite weight", task("").replace("weight: 1", "weight: -.inf"), "merge.yml: models[0].parameters.weight: -Infinity is not a finite number"],
    ["a weight as a string", task("").replace("weight: 1", "weight: one"), 'merge.yml: models[0].parameters.weight: "one" is not a finite number'],
    ["a filter list without a default", task("").replace("weight: 1", "weight:\n        - filter: mlp\n          value: 1"), "merge.yml: models[0].parameters.weight: conditions without a default"],
    ["a weight that resolves to nothing", "merge_method: ties\nbase_model: a/base\nmodels:\n  - model: a/base\n  - model: a/x\n", "merge.yml: models[1].parameters.weight: missing, and parameters has no weight"],
    ["no base_model", "merge_method: ties\nmodels:\n  - model: a/x\n", "merge.yml: base_model: missing"],
    ["only the base model", "merge_method: ties\nbase_model: a/x\nmodels:\n  - model: a/x\n", "merge.yml: models: every model listed is the base_model"],
    ["a model listed twice", task("").replace("models:\n", "models:\n  - model: a/x\n"), 'merge.yml: models[1].model: "a/x" is listed twice (also models[0])'],
    ["a LoRA", task("").replace("a/x", "a/x+a/lora"), 'merge.yml: models[0].model: "a/x+a/lora": LoRA adapters (model+lora) are not supported'],
    ["a structured model reference", task("").replace("model: a/x", "model: {path: a/x}"), "merge.yml: models[0].model: an object is not a string"],
    ["a bad dtype", task("dtype: int8\n"), 'merge.yml: dtype: "int8" is not bfloat16, float16 or float32'],
    ["an out_dtype named like an object's property", task("out_dtype: constructor\n"), 'merge.yml: out_dtype: "constructor" is not bfloat16, float16 or float32'],
    ["a bad seed", task("parameters:\n  seed: -3\n"), "merge.yml: parameters.seed: -3 is not an unsigned 32-bit integer"],
    ["normalize as a number", task("parameters:\n  normalize: 1\n"), "merge.yml: parameters.normalize: 1 is not true or false"],
    ["normalize: y (a string in PyYAML)", task("parameters:\n  normalize: y\n"), 'merge.yml: parameters.normalize: "y" is not true or false'],
    ["an empty file", "", "merge.yml: null is not an object"],
    ["a __proto__ key", task("__proto__:\n  dtype: float16\n"), 'merge.yml: unknown field "__proto__"'],
    [
      "an alias bomb",
      `a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n${["b", "c", "d", "e", "f", "g"].map((name, i) => `${name}: &${name} [${Array(10).fill(`*${"abcdefg"[i]}`).join(", ")}]`).join("\n")}\n`,
      "merge.yml: not valid YAML: Excessive alias count",
    ],
    ["linear with two models", "merge_method: linear\nmodels:\n  - model: a/t\n  - model: a/p\n", "merge.yml: models: 2 models: linear is read only in the reasoning-vector form"],
    ["linear with a target weight other than 1", linear(["0.5", "1", "-1"]), "merge.yml: models[0].parameters.weight: 0.5 is not 1: linear is read only"],
    ["linear with weights a, -b", linear(["1", "0.5", "-0.25"]), "merge.yml: models[2].parameters.weight: -0.25 is not -(0.5): linear is read only"],
    ["linear with a gradient weight", linear(["1", "[0, 1]", "-1"]), "merge.yml: models[1].parameters.weight: not a number: linear is read only"],
    ["linear without normalize: false", linear(["1", "1", "-1"], ""), "merge.yml: parameters.normalize: must be false (mergekit's linear normalizes by default)"],
    ["linear with a density", linear(["1", "1", "-1"]).replace("{weight: 1}", "{weight: 1, density: 0.5}"), 'merge.yml: models[0].parameters: unknown field "density" (known: weight)'],
    ["linear with another base_model", linear(["1", "1", "-1"], "base_model: a/m\nparameters:\n  normalize: false\n"), 'merge.yml: base_model: "a/m" is not the first model'],
  ];
  it.each(badInputs)("refuses %s in one line naming the field", (_what, text, message) => {
    expectOneLineError(() => parse(text), message);
  });
});

describe("renderMergekitYaml", () => {
  const recipeOf = (method: MergeRecipe["method"], patch: Partial<MergeRecipe> = {}): MergeRecipe => ({
    target: "org/base",
    method,
    parameters: defaultRecipeParameters(method),
    vectors: [
      { plus: "org/math", minus: "org/base", weight: [0.25, 1, 0.5], density: 0.5, gamma: 0.02 },
      { plus: "/models/code", minus: "org/base", weight: [{ filter: "self_attn", value: [0, 1] }, { filter: "*", value: 1e-7 }], density: [{ filter: "mlp", value: 0.3 }, { value: 0.9 }] },
      { plus: "org/chat", minus: "org/base", weight: -1.5 },
    ],
    out_dtype: "BF16",
    vocab: "exact",
    ...patch,
  });

  it.each(RECIPE_METHODS.map((method) => [method]))("%s: an exported YAML imports back to the same recipe", (method) => {
    for (const recipe of [
      recipeOf(method),
      recipeOf(method, { parameters: { normalize: !defaultRecipeParameters(method).normalize, rescale: false, seed: 4294967295, weight: 2, density: [0.1, 1], gamma: 0 }, out_dtype: undefined }),
    ]) {
      if (recipe.out_dtype === undefined) delete recipe.out_dtype;
      const exported = renderMergekitYaml(recipe);
      if (!exported.ok) throw new Error(exported.reason);
      expect(parseMergekitYaml(exported.yaml, "exported.yml")).toStrictEqual(recipe);
    }
  });

  it("writes the task-vector form mergekit reads: base_model the target, floats with a dot, seed only when set", () => {
    const exported = renderMergekitYaml(recipeOf("dare_ties", { parameters: { ...defaultRecipeParameters("dare_ties"), seed: 5 }, vectors: [{ plus: "org/math", minus: "org/base", weight: 1e-7, density: 0.5 }] }));
    expect(exported).toStrictEqual({
      ok: true,
      notes: [
        "mergekit draws DARE's random keep with torch.bernoulli: the elements it keeps differ from merge-studio's (seed 5).",
        "mergekit's rescale scales each sparsified vector back to its L1 norm, where merge-studio divides kept values by density.",
      ],
      yaml: [
        "# mergekit config written by merge-studio: the same recipe in mergekit's terms.",
        "# mergekit adds the terms in another order, so its result may differ in the last bit.",
        "# mergekit draws DARE's random keep with torch.bernoulli: the elements it keeps differ from merge-studio's (seed 5).",
        "# mergekit's rescale scales each sparsified vector back to its L1 norm, where merge-studio divides kept values by density.",
        "merge_method: dare_ties",
        'base_model: "org/base"',
        "models:",
        '  - model: "org/math"',
        "    parameters:",
        "      weight: 1.0e-7",
        "      density: 0.5",
        "parameters:",
        "  normalize: false",
        "  rescale: true",
        "  seed: 5",
        "dtype: float32",
        "out_dtype: bfloat16",
        "",
      ].join("\n"),
    });
  });

  it("adds no note where mergekit computes the same recipe", () => {
    const exported = renderMergekitYaml(recipeOf("dare_linear", { vectors: [{ plus: "org/math", minus: "org/base", weight: 1 }] }));
    expect(exported.ok && exported.notes).toStrictEqual([]);
    const ties = renderMergekitYaml(recipeOf("ties"));
    expect(ties.ok && ties.notes).toStrictEqual(["mergekit stops with an error on a tensor where int(density * numel) is 0; merge-studio keeps nothing of that vector there."]);
    const breadcrumbs = renderMergekitYaml(recipeOf("breadcrumbs"));
    expect(breadcrumbs.ok && breadcrumbs.notes).toStrictEqual(["mergekit's breadcrumbs keeps nothing of a tensor where int(gamma * numel) is 0; merge-studio keeps the density fraction below the top gamma there."]);
    const dense = renderMergekitYaml(recipeOf("breadcrumbs_ties", { vectors: [{ plus: "org/math", minus: "org/base", weight: 1, density: [{ filter: "mlp", value: 1 }, { value: 1 }] }] }));
    expect(dense.ok && dense.notes).toStrictEqual([]);
  });

  it("exports the one-vector recipe as linear with weights 1, alpha, -alpha and normalize false, which imports back", () => {
    const recipe: MergeRecipe = {
      target: "Qwen/Qwen2.5-Math-1.5B",
      method: "task_arithmetic",
      parameters: defaultRecipeParameters("task_arithmetic"),
      vectors: [{ plus: "org/grpo", minus: "org/sft", weight: 0.75 }],
      vocab: "exact",
    };
    const exported = renderMergekitYaml(recipe);
    expect(exported).toStrictEqual({
      ok: true,
      notes: [],
      yaml: [
        "# mergekit config written by merge-studio: the same recipe in mergekit's terms.",
        "# mergekit adds the terms in another order, so its result may differ in the last bit.",
        "merge_method: linear",
        "models:",
        '  - model: "Qwen/Qwen2.5-Math-1.5B"',
        "    parameters:",
        "      weight: 1.0",
        '  - model: "org/grpo"',
        "    parameters:",
        "      weight: 0.75",
        '  - model: "org/sft"',
        "    parameters:",
        "      weight: -0.75",
        "parameters:",
        "  normalize: false",
        'tokenizer_source: "Qwen/Qwen2.5-Math-1.5B"',
        "",
      ].join("\n"),
    });
    expect(parseMergekitYaml(exported.ok ? exported.yaml : "", "exported.yml")).toStrictEqual(recipe);
    const bf16 = { ...recipe, out_dtype: "F32" as const, vectors: [{ plus: "org/grpo", minus: "org/sft", weight: -2 }] };
    const again = renderMergekitYaml(bf16);
    expect(again.ok && parseMergekitYaml(again.yaml, "exported.yml")).toStrictEqual(bf16);
  });

  it("says plainly why mergekit cannot express a recipe", () => {
    const oneVector = (patch: Partial<MergeRecipe>): MergeRecipe => ({
      target: "org/t",
      method: "task_arithmetic",
      parameters: defaultRecipeParameters("task_arithmetic"),
      vectors: [{ plus: "org/p", minus: "org/m", weight: 1 }],
      vocab: "exact",
      ...patch,
    });
    const twoVectors = oneVector({ vectors: [{ plus: "org/p", minus: "org/t", weight: 1 }, { plus: "org/q", minus: "org/m", weight: 1 }] });
    expect(renderMergekitYaml(oneVector({ control: { kind: "random_sign", seed: 1 } }))).toStrictEqual({ ok: false, reason: "mergekit has no random_sign control" });
    expect(renderMergekitYaml(oneVector({ vocab: "common" }))).toStrictEqual({ ok: false, reason: "mergekit cannot merge only the vocabulary rows the models share (vocab: common)" });
    expect(renderMergekitYaml(twoVectors)).toStrictEqual({
      ok: false,
      reason: 'mergekit\'s task-vector methods take every vector from one base_model, and vectors[1].minus "org/m" is not the target "org/t"; the linear form covers one vector, this recipe has 2',
    });
    const reasonOf = (recipe: MergeRecipe) => {
      const exported = renderMergekitYaml(recipe);
      return exported.ok ? "" : exported.reason.replace(/^.*; /, "");
    };
    expect(reasonOf(oneVector({ method: "ties", parameters: defaultRecipeParameters("ties") }))).toBe("the linear form covers task_arithmetic, not ties");
    expect(reasonOf(oneVector({ parameters: { ...defaultRecipeParameters("task_arithmetic"), normalize: true } }))).toBe("the linear form needs normalize: false");
    expect(reasonOf(oneVector({ vectors: [{ plus: "org/p", minus: "org/m", weight: [0, 1] }] }))).toBe("the linear form needs the vector's own weight, a number");
    expect(reasonOf(oneVector({ parameters: { ...defaultRecipeParameters("task_arithmetic"), seed: 3 } }))).toBe("the linear form carries the weight only: remove the other settings");
  });
});
