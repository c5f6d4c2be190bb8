import { describe, expect, it } from "vitest";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { draftProblems, draftSlots, draftToRecipe, oneVectorAlpha, recipeToDraft, type RecipeDraft } from "../src/ui/state/recipeDraft.ts";
import { distinctModelSpecs, type ModelInput } from "../src/ui/state/modelInput.ts";

const draft = (overrides: Partial<RecipeDraft>): RecipeDraft => ({
  method: "ties",
  parameters: defaultRecipeParameters("ties"),
  vectors: [{ id: "a", weight: 1 }],
  ...overrides,
});

describe("the studio's recipe draft", () => {
  it("names every bad value with its vector and field, for the settings the method reads", () => {
    const bad = draft({
      method: "breadcrumbs",
      vectors: [
        { id: "a", weight: [0, Number.NaN], density: 1.5 },
        { id: "b", weight: [], density: 0, gamma: 1 },
        { id: "c", weight: [{ filter: "mlp", value: 1 }], gamma: -0.1 },
      ],
    });
    expect(draftProblems(bad)).toEqual([
      "Vector 1 weight: NaN is not a finite number.",
      "Vector 1 density: density 1.5 is outside (0, 1].",
      "Vector 2 weight: a gradient needs at least one number.",
      "Vector 2 density: density 0 is outside (0, 1].",
      "Vector 2 gamma: gamma 1 is outside [0, 1).",
      "Vector 3 weight: the module filters need a default for the other tensors.",
      "Vector 3 gamma: gamma -0.1 is outside [0, 1).",
    ]);
    // task_arithmetic reads neither density nor gamma.
    expect(draftProblems({ ...bad, method: "task_arithmetic", vectors: [{ id: "a", weight: 1, density: 7, gamma: 2 }] })).toEqual([]);
    expect(draftProblems(draft({ vectors: [{ id: "a", weight: 1e39 }] }))).toEqual(["Vector 1 weight: 1e+39 is too large for float32."]);
  });

  it("turns into the MergeRecipe with the slots' specs, and back", () => {
    const edited = draft({ vectors: [{ id: "a", weight: [0, 1], density: 0.5 }, { id: "b", weight: -1 }], control: { kind: "random_sign", seed: 3 } });
    expect(draftSlots(edited)).toEqual(["target", "plus:a", "minus:a", "plus:b", "minus:b"]);
    const specs: Record<string, string> = { target: "o/T", "plus:a": "o/P", "minus:a": "o/T", "plus:b": "o/Q", "minus:b": "o/M" };
    const recipe = draftToRecipe(edited, (slot) => specs[slot]!, "exact", "BF16");
    expect(recipe).toEqual({
      target: "o/T",
      method: "ties",
      parameters: defaultRecipeParameters("ties"),
      vectors: [
        { plus: "o/P", minus: "o/T", weight: [0, 1], density: 0.5 },
        { plus: "o/Q", minus: "o/M", weight: -1 },
      ],
      control: { kind: "random_sign", seed: 3 },
      out_dtype: "BF16",
      vocab: "exact",
    } satisfies MergeRecipe);
    let id = 0;
    expect(recipeToDraft(recipe, () => `v${id++}`)).toEqual({ ...edited, vectors: edited.vectors.map((vector, index) => ({ ...vector, id: `v${index}` })) });
  });

  it("maps onto today's one-vector merge only when it is that recipe", () => {
    const one = draftToRecipe(draft({ method: "task_arithmetic", parameters: defaultRecipeParameters("task_arithmetic"), vectors: [{ id: "a", weight: 0.5 }] }), () => "o/x", "exact", undefined);
    expect(oneVectorAlpha(one)).toBe(0.5);
    expect(oneVectorAlpha({ ...one, method: "ties" })).toBeUndefined();
    expect(oneVectorAlpha({ ...one, vectors: [{ ...one.vectors[0]!, weight: [0, 1] }] })).toBeUndefined();
    expect(oneVectorAlpha({ ...one, vectors: [...one.vectors, ...one.vectors] })).toBeUndefined();
    expect(oneVectorAlpha({ ...one, control: { kind: "random_sign", seed: 0 } })).toBeUndefined();
    expect(oneVectorAlpha({ ...one, parameters: { ...one.parameters, normalize: true } })).toBeUndefined();
  });
});

describe("distinctModelSpecs", () => {
  const folder = (label: string): ModelInput => ({ kind: "files", label, files: [] });
  it("gives two different folders of one name two specs, and one pick or one Hub repo one spec", () => {
    const checkpoint = folder("checkpoint");
    const other = folder("checkpoint");
    const third = folder("checkpoint");
    const hub: ModelInput = { kind: "hub", repo: "org/model" };
    const sameHub: ModelInput = { kind: "hub", repo: "org/model" };
    const pinned: ModelInput = { kind: "hub", repo: "org/model", revision: "abc" };
    expect(distinctModelSpecs([checkpoint, other, checkpoint, undefined, third, hub, sameHub, pinned])).toEqual([
      "checkpoint",
      "checkpoint (2)",
      "checkpoint",
      undefined,
      "checkpoint (3)",
      "org/model",
      "org/model",
      "org/model@abc",
    ]);
  });

  it("never gives a folder the spec a folder named like its suffixed name already holds", () => {
    const named2 = folder("model (2)");
    expect(distinctModelSpecs([folder("model"), named2, folder("model")])).toEqual(["model", "model (2)", "model (3)"]);
  });
});
