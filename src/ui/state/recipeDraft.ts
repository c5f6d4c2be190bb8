import { defaultRecipeParameters, isSettingConditions, type MergeRecipe, type RandomSignControl, type RecipeParameters, type Setting, type VectorSettingName } from "../../core/recipe/MergeRecipe.ts";
import { METHOD_STEPS, type RecipeMethodId } from "../../core/recipe/TensorRecipe.ts";

/**
 * The recipe being edited in the studio: a MergeRecipe without its model specs (those come from the
 * model slots, which hold what each slot's model is and whether it was read). Each vector has a
 * stable `id` that names its plus and minus slots, so reordering vectors moves their models along.
 */
export interface VectorDraft {
  id: string;
  weight: Setting;
  density?: Setting;
  gamma?: Setting;
}

export interface RecipeDraft {
  method: RecipeMethodId;
  parameters: RecipeParameters;
  vectors: VectorDraft[];
  control?: RandomSignControl;
}

/** The slot of a model of the recipe: the target, or the plus / minus of vector `id`. */
export type SlotKey = "target" | `plus:${string}` | `minus:${string}`;
export type SlotKind = "target" | "plus" | "minus";

export const plusSlot = (vectorId: string): SlotKey => `plus:${vectorId}`;
export const minusSlot = (vectorId: string): SlotKey => `minus:${vectorId}`;

/** Every slot of a draft, in recipe order: target, then plus and minus of each vector. */
export function draftSlots(draft: Pick<RecipeDraft, "vectors">): SlotKey[] {
  return ["target", ...draft.vectors.flatMap((vector) => [plusSlot(vector.id), minusSlot(vector.id)])];
}

export function slotKind(slot: SlotKey): SlotKind {
  return slot === "target" ? "target" : slot.startsWith("plus:") ? "plus" : "minus";
}

/** The weight a new vector starts with: today's alpha default. */
export const DEFAULT_WEIGHT = 1;

/** A draft of one task_arithmetic vector with weight 1: the reasoning-vector recipe. */
export function initialDraft(firstVectorId: string): RecipeDraft {
  return { method: "task_arithmetic", parameters: defaultRecipeParameters("task_arithmetic"), vectors: [{ id: firstVectorId, weight: DEFAULT_WEIGHT }] };
}

/** The MergeRecipe of a draft, with `spec(slot)` the model spec string of each slot. */
export function draftToRecipe(draft: RecipeDraft, spec: (slot: SlotKey) => string, vocab: MergeRecipe["vocab"], outDtype: MergeRecipe["out_dtype"]): MergeRecipe {
  const recipe: MergeRecipe = {
    target: spec("target"),
    method: draft.method,
    parameters: { ...draft.parameters },
    vectors: draft.vectors.map((vector) => ({
      plus: spec(plusSlot(vector.id)),
      minus: spec(minusSlot(vector.id)),
      weight: vector.weight,
      ...(vector.density !== undefined ? { density: vector.density } : {}),
      ...(vector.gamma !== undefined ? { gamma: vector.gamma } : {}),
    })),
    vocab,
  };
  if (draft.control) recipe.control = { ...draft.control };
  if (outDtype) recipe.out_dtype = outDtype;
  return recipe;
}

/**
 * The draft of a recipe (from a link or a mergekit YAML), its vectors numbered by `nextId`. A vector
 * without its own weight takes the recipe's default weight, so that every vector's slider has a value.
 */
export function recipeToDraft(recipe: MergeRecipe, nextId: () => string): RecipeDraft {
  const { weight, ...parameters } = recipe.parameters;
  const draft: RecipeDraft = {
    method: recipe.method,
    parameters,
    vectors: recipe.vectors.map((vector) => ({
      id: nextId(),
      weight: vector.weight ?? weight ?? DEFAULT_WEIGHT,
      ...(vector.density !== undefined ? { density: vector.density } : {}),
      ...(vector.gamma !== undefined ? { gamma: vector.gamma } : {}),
    })),
  };
  if (recipe.control) draft.control = { ...recipe.control };
  return draft;
}

/** Whether a method reads a setting: weight always, density when it sparsifies, gamma for breadcrumbs. */
export function methodUsesSetting(method: RecipeMethodId, name: VectorSettingName): boolean {
  const { sparsification } = METHOD_STEPS[method];
  if (name === "density") return sparsification !== "none";
  if (name === "gamma") return sparsification === "magnitude_outliers";
  return true;
}

/** Every number a setting holds. */
function settingNumbers(setting: Setting): number[] {
  if (typeof setting === "number") return [setting];
  if (!isSettingConditions(setting)) return setting;
  return setting.flatMap(({ value }) => (typeof value === "number" ? [value] : value));
}

/** What is wrong with a setting's values, in words; undefined when nothing is. */
export function settingProblem(name: VectorSettingName, setting: Setting): string | undefined {
  if (Array.isArray(setting) && setting.length === 0) return "a gradient needs at least one number";
  if (isSettingConditions(setting)) {
    if (setting.some(({ value }) => Array.isArray(value) && value.length === 0)) return "a gradient needs at least one number";
    if (!setting.some(({ filter }) => filter === undefined || filter === "*" || filter === "")) return "the module filters need a default for the other tensors";
  }
  for (const value of settingNumbers(setting)) {
    if (!Number.isFinite(value)) return `${value} is not a finite number`;
    if (name === "weight" && !Number.isFinite(Math.fround(value))) return `${value} is too large for float32`;
    if (name === "density" && !(value > 0 && value <= 1)) return `density ${value} is outside (0, 1]`;
    if (name === "gamma" && !(value >= 0 && value < 1)) return `gamma ${value} is outside [0, 1)`;
  }
  return undefined;
}

/**
 * The problems of a draft's values that the method reads, each naming the field ("Vector 2 density:
 * 1.5 is outside (0, 1]"); vectors are numbered from 1 as the page shows them.
 */
export function draftProblems(draft: RecipeDraft): string[] {
  const problems: string[] = [];
  const check = (where: string, name: VectorSettingName, setting: Setting | undefined) => {
    if (setting === undefined || !methodUsesSetting(draft.method, name)) return;
    const problem = settingProblem(name, setting);
    if (problem) problems.push(`${where} ${name}: ${problem}.`);
  };
  draft.vectors.forEach((vector, index) => {
    check(`Vector ${index + 1}`, "weight", vector.weight);
    check(`Vector ${index + 1}`, "density", vector.density ?? draft.parameters.density);
    check(`Vector ${index + 1}`, "gamma", vector.gamma ?? draft.parameters.gamma);
  });
  return problems;
}

/**
 * The alpha of the reasoning-vector recipe target + alpha * (plus - minus): one task_arithmetic
 * vector with a number weight, no normalize, no control (the old link form and the eval table's
 * label). Undefined for any other recipe.
 */
export function oneVectorAlpha(recipe: MergeRecipe): number | undefined {
  const [vector] = recipe.vectors;
  if (recipe.vectors.length !== 1 || !vector || recipe.method !== "task_arithmetic" || recipe.control || recipe.parameters.normalize) return undefined;
  const weight = vector.weight ?? recipe.parameters.weight;
  return typeof weight === "number" ? weight : undefined;
}
