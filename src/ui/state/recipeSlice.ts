import type { StateCreator } from "zustand";
import type { VocabMode } from "../../core/recipe/MergeRecipe.ts";
import type { LinkRecipe } from "./recipeLink.ts";
import type { StudioState } from "./studioStore.ts";

export const DEFAULT_ALPHA = 1;

export interface RecipeSlice {
  alpha: number;
  vocab: VocabMode;
  /** What in the opened link could not be used. */
  linkProblems: string[];
  setAlpha: (alpha: number) => void;
  setVocab: (vocab: VocabMode) => void;
}

export const createRecipeSlice =
  (link: LinkRecipe): StateCreator<StudioState, [], [], RecipeSlice> =>
  (set, get) => ({
    alpha: link.alpha ?? DEFAULT_ALPHA,
    vocab: link.vocab ?? "exact",
    linkProblems: link.problems,
    setAlpha: (alpha) => {
      if (!Number.isFinite(alpha) || alpha === get().alpha) return;
      set({ alpha });
      get().discardMergeResult();
    },
    setVocab: (vocab) => {
      set({ vocab });
      get().discardMergeResult();
    },
  });
