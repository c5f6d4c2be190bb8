import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { distinctModelSpecs, type ModelInput } from "./modelInput.ts";
import { slotOf } from "./modelsSlice.ts";
import { draftProblems, draftSlots, draftToRecipe, type SlotKey } from "./recipeDraft.ts";
import { EMPTY_SLOT } from "./recipeLink.ts";
import type { StudioState } from "./studioStore.ts";

/** What the recipe is made of in the store. */
export type RecipeSource = Pick<StudioState, "method" | "parameters" | "vectors" | "control" | "vocab" | "outDtype" | "models">;

/** The store's parts selectRecipe reads (for useShallow). */
export const pickRecipeSource = ({ method, parameters, vectors, control, vocab, outDtype, models }: StudioState): RecipeSource => ({ method, parameters, vectors, control, vocab, outDtype, models });

/**
 * Every slot's model spec in the recipe (distinctModelSpecs: two different folders of one name get
 * two specs), EMPTY_SLOT while none is picked.
 */
export function slotSpecs(state: Pick<StudioState, "models" | "vectors">): Map<SlotKey, string> {
  const slots = draftSlots(state);
  const specs = distinctModelSpecs(
    slots.map((slot) => {
      const model = slotOf(state.models, slot);
      return model.status === "empty" ? undefined : model.input;
    }),
  );
  return new Map(slots.map((slot, index) => [slot, specs[index] ?? EMPTY_SLOT]));
}

/** The recipe as edited, every slot's spec as slotSpecs gives it (also when a model is not picked yet). */
export function selectRecipe(state: RecipeSource): MergeRecipe {
  const specs = slotSpecs(state);
  return draftToRecipe(state, (slot) => specs.get(slot)!, state.vocab, state.outDtype === "target" ? undefined : state.outDtype);
}

/** The recipe and its models, keyed by the recipe's model spec strings: what the merge and eval workers take. */
export interface MergeRequestParts {
  recipe: MergeRecipe;
  inputs: Record<string, ModelInput>;
}

/**
 * The recipe and inputs to merge now, or why not: a model not picked or not read, a field whose
 * text is not a value, a value out of range (each named, as the page numbers the vectors).
 */
export function selectMergeRequest(state: StudioState): MergeRequestParts | { error: string } {
  const slots = draftSlots(state);
  const specs = slotSpecs(state);
  const inputs: Record<string, ModelInput> = {};
  for (const slot of slots) {
    const model = slotOf(state.models, slot);
    if (model.status !== "ready") return { error: `Pick and inspect all ${slots.length === 3 ? "three" : slots.length} models first.` };
    inputs[specs.get(slot)!] = model.input;
  }
  const [fieldProblem] = Object.values(state.fieldProblems);
  if (fieldProblem !== undefined) return { error: fieldProblem };
  const [problem] = draftProblems(state);
  if (problem !== undefined) return { error: problem };
  return { recipe: selectRecipe(state), inputs };
}
