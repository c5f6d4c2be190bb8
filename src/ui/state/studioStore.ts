import { create } from "zustand";
import { createEvalSlice, type EvalSlice } from "./evalSlice.ts";
import { createEvalTaskSlice, type EvalTaskSlice } from "./evalTaskSlice.ts";
import { createMergeSlice, type MergeSlice } from "./mergeSlice.ts";
import { createModelsSlice, type ModelsSlice } from "./modelsSlice.ts";
import { readRecipeLink } from "./recipeLink.ts";
import { createRecipeSlice, newVectorId, type RecipeSlice } from "./recipeSlice.ts";
import { createSettingsSlice, type SettingsSlice } from "./settingsSlice.ts";

export type StudioState = SettingsSlice & ModelsSlice & RecipeSlice & MergeSlice & EvalSlice & EvalTaskSlice;

/** The link the page was opened with; its `r` recipe, if any, is loaded by syncRecipeLink. */
export const openedLink = readRecipeLink(window.location.search);
const firstVectorId = newVectorId();

export const useStudioStore = create<StudioState>()((...args) => ({
  ...createSettingsSlice(openedLink)(...args),
  ...createModelsSlice(openedLink, firstVectorId)(...args),
  ...createRecipeSlice(openedLink, firstVectorId)(...args),
  ...createMergeSlice(...args),
  ...createEvalSlice(...args),
  ...createEvalTaskSlice(...args),
}));
