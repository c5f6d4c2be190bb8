import type { Role } from "./recipeLink.ts";
import type { ModelInput } from "./modelInput.ts";
import { RECIPE_PARAMETERS, writeRecipeLink } from "./recipeLink.ts";
import { DEFAULT_SHARD_SIZE } from "./settingsSlice.ts";
import { useStudioStore, type StudioState } from "./studioStore.ts";

/** The query string for the current recipe, keeping the parameters of `currentSearch` that are not the recipe's. */
export function recipeQuery(state: StudioState, currentSearch: string): string {
  const input = (role: Role): ModelInput | undefined => {
    const slot = state.models[role];
    return slot.status === "empty" ? undefined : slot.input;
  };
  const others = [...new URLSearchParams(currentSearch)].filter(([key]) => !RECIPE_PARAMETERS.includes(key));
  const recipe = {
    hubUrl: state.hubUrl,
    inputs: { target: input("target"), plus: input("plus"), minus: input("minus") },
    alpha: state.alpha,
    outDtype: state.outDtype,
    shardSizeText: state.shardSizeText,
    defaultShardSize: DEFAULT_SHARD_SIZE,
    vocab: state.vocab,
    backend: state.backend,
  };
  return writeRecipeLink(recipe, others);
}

/** Keeps the address bar equal to the recipe, so that the page's URL is always a link to share. */
export function syncRecipeLink(): () => void {
  const update = (state: StudioState) => {
    const query = recipeQuery(state, window.location.search);
    if (query !== window.location.search) {
      window.history.replaceState(window.history.state, "", `${window.location.pathname}${query}${window.location.hash}`);
    }
  };
  update(useStudioStore.getState());
  return useStudioStore.subscribe(update);
}
