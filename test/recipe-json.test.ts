import { describe, expect, it } from "vitest";
import type { MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import { renderRecipeJson } from "../src/core/recipe/renderRecipeJson.ts";
import { expectOneLineError } from "./helpers/expectOneLineError.ts";

/** The contract's example file (recipe-v2.md, "The recipe file"), with a gradient and conditions added. */
const CONTRACT_EXAMPLE = `{
  "target": "Qwen/Qwen2.5-Math-1.5B@main",
  "method": "dare_ties",
  "parameters": { "normalize": false, "rescale": true, "seed": 0 },
  "vectors": [
    { "plus": "org/grpo", "minus": "org/sft",
      "weight": 1.0, "density": 1.0, "gamma": 0.01 },
    { "plus": "./models/plus", "minus": "/abs/minus",
      "weight": [0, 0.5, 1], "density": [{"filter": "mlp", "value": 0.5}, {"value": 1}] }
  ],
  "control": { "kind": "random_sign", "seed": 7 },
  "out_dtype": "bf16",
  "vocab": "exact"
}`;

const source = "recipe.json";
const parse = (text: string) => parseRecipeJson(text, source);
/** A minimal valid recipe with `patch` merged over it, as JSON text. */
const withFields = (patch: Record<string, unknown>) =>
  JSON.stringify({ target: "org/target", method: "ties", vectors: [{ plus: "org/a", minus: "org/b", weight: 1 }], ...patch });
const withVector = (vector: Record<string, unknown>) => withFields({ vectors: [{ plus: "org/a", minus: "org/b", weight: 1 }, { plus: "org/c", minus: "org/d", ...vector }] });

describe("parseRecipeJson", () => {
  it("reads the contract's example, with defaults filled in", () => {
    const expected: MergeRecipe = {
      target: "Qwen/Qwen2.5-Math-1.5B@main",
      method: "dare_ties",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [
        { plus: "org/grpo", minus: "org/sft", weight: 1, density: 1, gamma: 0.01 },
        { plus: "./models/plus", minus: "/abs/minus", weight: [0, 0.5, 1], density: [{ filter: "mlp", value: 0.5 }, { value: 1 }] },
      ],
      control: { kind: "random_sign", seed: 7 },
      out_dtype: "BF16",
      vocab: "exact",
    };
    expect(parse(CONTRACT_EXAMPLE)).toStrictEqual(expected);
  });

  it("fills the defaults: normalize true for ties only, rescale true, seed 0, density 1, gamma 0.01, vocab exact", () => {
    const ties = parse(withFields({}));
    expect(ties.parameters).toStrictEqual({ normalize: true, rescale: true, seed: 0, density: 1, gamma: 0.01 });
    expect(ties.vocab).toBe("exact");
    expect(ties.control).toBeUndefined();
    expect(ties.out_dtype).toBeUndefined();
    for (const method of ["task_arithmetic", "dare_linear", "dare_ties", "breadcrumbs", "breadcrumbs_ties"]) {
      expect(parse(withFields({ method })).parameters.normalize).toBe(false);
    }
  });

  it('reads vocab "error" as "exact", out_dtype in any case, a default weight in parameters', () => {
    expect(parse(withFields({ vocab: "error" })).vocab).toBe("exact");
    expect(parse(withFields({ vocab: "common" })).vocab).toBe("common");
    expect(parse(withFields({ out_dtype: "F16" })).out_dtype).toBe("F16");
    const recipe = parse(withFields({ parameters: { weight: 0.5 }, vectors: [{ plus: "org/a", minus: "org/b" }] }));
    expect(recipe.parameters.weight).toBe(0.5);
    expect(recipe.vectors[0]!.weight).toBeUndefined();
  });

  it("resolves model paths through the caller's function and leaves Hub ids as written", () => {
    const seen: string[] = [];
    const recipe = parseRecipeJson(
      JSON.stringify({ target: "org/name@v1.0", method: "ties", vectors: [{ plus: "./plus", minus: "../up/minus", weight: 1 }, { plus: "local", minus: "a/b/c", weight: 1 }] }),
      source,
      { resolveModelPath: (path) => (seen.push(path), `/recipes/${path}`) },
    );
    expect(recipe.target).toBe("org/name@v1.0");
    expect(recipe.vectors).toStrictEqual([
      { plus: "/recipes/./plus", minus: "/recipes/../up/minus", weight: 1 },
      { plus: "/recipes/local", minus: "/recipes/a/b/c", weight: 1 },
    ]);
    expect(seen).toStrictEqual(["./plus", "../up/minus", "local", "a/b/c"]);
  });

  it("reads -0 as +0 (they act the same), so that render and parse agree", () => {
    const recipe = parse(withFields({ vectors: [{ plus: "org/a", minus: "org/b", weight: -0, density: [-0, 1] }] }));
    expect(Object.is(recipe.vectors[0]!.weight, 0)).toBe(true);
    expect(Object.is((recipe.vectors[0]!.density as number[])[0], 0)).toBe(true);
  });

  const badInputs: Array<[string, string, string]> = [
    ["not JSON", "{", "recipe.json: not valid JSON"],
    ["JSON with a trailing comma", '{"target": "a/b",}', "recipe.json: not valid JSON"],
    ["not an object", "[]", "recipe.json: a list of 0 is not an object"],
    ["a __proto__ key", withFields({}).replace("{", '{"__proto__": {"vocab": "common"}, '), 'recipe.json: unknown field "__proto__"'],
    ["an unknown method", withFields({ method: "slerp" }), 'recipe.json: method: unknown method "slerp" (known: task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties)'],
    ["a missing method", JSON.stringify({ target: "a/b", vectors: [] }), "recipe.json: method: missing"],
    ["an unknown top-level field", withFields({ alpha: 1 }), 'recipe.json: unknown field "alpha" (known: target, method, parameters, vectors, control, out_dtype, vocab)'],
    ["an unknown vector field", withVector({ weight: 1, wieght: 2 }), 'recipe.json: vectors[1]: unknown field "wieght" (known: plus, minus, weight, density, gamma)'],
    ["an unknown parameter", withFields({ parameters: { lambda: 1 } }), 'recipe.json: parameters: unknown field "lambda"'],
    ["density above 1", withVector({ weight: 1, density: 1.5 }), "recipe.json: vectors[1].density: 1.5 is outside [0, 1]"],
    ["density below 0", withVector({ weight: 1, density: -0.1 }), "recipe.json: vectors[1].density: -0.1 is outside [0, 1]"],
    ["gamma above 1 in a gradient", withVector({ weight: 1, gamma: [0, 2] }), "recipe.json: vectors[1].gamma[1]: 2 is outside [0, 1]"],
    ["density outside [0, 1] in a condition", withFields({ parameters: { density: [{ filter: "mlp", value: 3 }, { value: 1 }] } }), "recipe.json: parameters.density[0].value: 3 is outside [0, 1]"],
    ["a weight that is a string", withVector({ weight: "1" }), 'recipe.json: vectors[1].weight: "1" is not a finite number'],
    ["a weight infinite in float32", withVector({ weight: 1e39 }), "recipe.json: vectors[1].weight: 1e+39 is infinite in float32"],
    ["a weight that overflows to Infinity", withVector({ weight: 1 }).replace('"weight":1}]', '"weight":1e999}]'), "recipe.json: vectors[1].weight: Infinity is not a finite number"],
    ["a gradient with no numbers", withVector({ weight: [] }), "recipe.json: vectors[1].weight: a gradient with no numbers"],
    ["a gradient holding a string", withVector({ weight: [1, "x"] }), 'recipe.json: vectors[1].weight[1]: "x" is not a finite number'],
    ["conditions without a default", withVector({ weight: [{ filter: "mlp", value: 1 }] }), "recipe.json: vectors[1].weight: conditions without a default"],
    ["a condition without a value", withVector({ weight: [{ filter: "mlp" }, { value: 1 }] }), "recipe.json: vectors[1].weight[0].value: missing"],
    ["a condition with an unknown field", withVector({ weight: [{ value: 1, when: "x" }] }), 'recipe.json: vectors[1].weight[0]: unknown field "when"'],
    ["a condition with an empty gradient", withVector({ weight: [{ value: [] }] }), "recipe.json: vectors[1].weight[0].value: a gradient with no numbers"],
    ["a weight that resolves to nothing", withVector({}), "recipe.json: vectors[1].weight: missing, and parameters has no weight: the weight resolves to nothing"],
    ["a negative seed", withFields({ parameters: { seed: -1 } }), "recipe.json: parameters.seed: -1 is not an unsigned 32-bit integer"],
    ["a seed of 2^32", withFields({ parameters: { seed: 2 ** 32 } }), "recipe.json: parameters.seed: 4294967296 is not an unsigned 32-bit integer"],
    ["a fractional control seed", withFields({ control: { kind: "random_sign", seed: 1.5 } }), "recipe.json: control.seed: 1.5 is not an unsigned 32-bit integer"],
    ["an unknown control", withFields({ control: { kind: "gaussian", seed: 1 } }), 'recipe.json: control.kind: unknown control "gaussian" (known: random_sign)'],
    ["normalize as a string", withFields({ parameters: { normalize: "yes" } }), 'recipe.json: parameters.normalize: "yes" is not true or false'],
    ["an empty vectors list", withFields({ vectors: [] }), "recipe.json: vectors: empty"],
    ["a vector without minus", withFields({ vectors: [{ plus: "org/a", weight: 1 }] }), "recipe.json: vectors[0].minus: missing"],
    ["a model that is not a string", withFields({ target: 3 }), "recipe.json: target: 3 is not a string"],
    ["an empty model", withFields({ target: "" }), "recipe.json: target: empty"],
    ["a home-relative path", withFields({ target: "~/models/x" }), 'recipe.json: target: "~/models/x": "~" is not expanded in a recipe file'],
    ["a bad out_dtype", withFields({ out_dtype: "int8" }), 'recipe.json: out_dtype: unknown output dtype "int8": use bf16, f16 or f32'],
    ["a bad vocab", withFields({ vocab: "union" }), 'recipe.json: vocab: "union" is not "exact" or "common"'],
    ["nesting past the limit", `{"target": ${"[".repeat(100)}${"]".repeat(100)}}`, "recipe.json: not accepted: nested more than 64 levels deep"],
  ];
  it.each(badInputs)("refuses %s in one line naming the field and the value", (_what, text, message) => {
    expectOneLineError(() => parse(text), message);
  });

  it("escapes control characters of an unknown field's name", () => {
    expect(() => parse(withFields({ "a\nb\u001b[2J": 1 }))).toThrow('recipe.json: unknown field "a\\nb\\x1b[2J"');
  });
});

describe("renderRecipeJson", () => {
  const recipes: MergeRecipe[] = [
    parse(CONTRACT_EXAMPLE),
    parse(withFields({})),
    parse(withFields({ method: "breadcrumbs", parameters: { weight: [1, 2, 3], density: 0.9, gamma: [{ filter: "*", value: [0.01, 0.02] }] }, vectors: [{ plus: "org/a", minus: "org/b" }], vocab: "common", out_dtype: "f32" })),
    {
      target: "/models/target",
      method: "task_arithmetic",
      parameters: { normalize: false, rescale: false, seed: 4294967295, density: 0.25, gamma: 0 },
      vectors: [{ plus: "a/b", minus: "c/d", weight: [{ value: 0.1 + 0.2 }] }, { plus: "e/f", minus: "g/h", weight: 1e-7, gamma: 1 }],
      vocab: "exact",
    },
  ];

  it.each(recipes.map((recipe, i) => [i, recipe] as const))("recipe %i: parse(render(r)) equals r and render is idempotent", (_i, recipe) => {
    const text = renderRecipeJson(recipe);
    const again = parseRecipeJson(text, "merge_recipe.json");
    expect(again).toStrictEqual(recipe);
    expect(renderRecipeJson(again)).toBe(text);
  });

  it("writes keys in the contract's order and every default out", () => {
    const text = renderRecipeJson(parse(JSON.stringify({ vocab: "common", vectors: [{ weight: [{ value: 2, filter: "mlp" }, { value: 1 }], minus: "org/b", plus: "org/a" }], method: "dare_linear", target: "org/t" })));
    expect(JSON.parse(text)).toStrictEqual({
      target: "org/t",
      method: "dare_linear",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [{ plus: "org/a", minus: "org/b", weight: [{ filter: "mlp", value: 2 }, { value: 1 }] }],
      vocab: "common",
    });
    const keys = (value: unknown): unknown => (Array.isArray(value) ? value.map(keys) : typeof value === "object" && value !== null ? Object.entries(value).map(([key, inner]) => [key, keys(inner)]) : null);
    expect(keys(JSON.parse(text))).toStrictEqual([
      ["target", null],
      ["method", null],
      ["parameters", [["normalize", null], ["rescale", null], ["seed", null], ["density", null], ["gamma", null]]],
      ["vectors", [[["plus", null], ["minus", null], ["weight", [[["filter", null], ["value", null]], [["value", null]]]]]]],
      ["vocab", null],
    ]);
    expect(text.endsWith("}\n")).toBe(true);
    const full = JSON.parse(renderRecipeJson(parse(CONTRACT_EXAMPLE))) as Record<string, unknown>;
    expect(Object.keys(full)).toStrictEqual(["target", "method", "parameters", "vectors", "control", "out_dtype", "vocab"]);
    expect(full.out_dtype).toBe("bf16");
  });
});
