import { create } from "zustand";
import { createEvalSlice, type EvalSlice } from "./evalSlice.ts";
import { createMergeSlice, type MergeSlice } from "./mergeSlice.ts";
import { createModelsSlice, type ModelsSlice } from "./modelsSlice.ts";
import { readRecipeLink } from "./recipeLink.ts";
import { createRecipeSlice, type RecipeSlice } from "./recipeSlice.ts";
import { createSettingsSlice, type SettingsSlice } from "./settingsSlice.ts";

export type StudioState = SettingsSlice & ModelsSlice & RecipeSlice & MergeSlice & EvalSlice;

const link = readRecipeLink(window.location.search);

export const useStudioStore = create<StudioState>()((...args) => ({
  ...createSettingsSlice(link)(...args),
  ...createModelsSlice(link)(...args),
  ...createRecipeSlice(link)(...args),
  ...createMergeSlice(...args),
  ...createEvalSlice(...args),
}));
