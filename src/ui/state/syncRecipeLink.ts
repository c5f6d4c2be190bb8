import { DEFAULT_HUB_URL } from "./hubUrl.ts";
import { decodeRecipeParameter, RECIPE_PARAMETERS, writeRecipeLink } from "./recipeLink.ts";
import { slotOf } from "./modelsSlice.ts";
import { draftSlots } from "./recipeDraft.ts";
import { pickRecipeSource, selectRecipe } from "./selectMergeRequest.ts";
import { DEFAULT_SHARD_SIZE } from "./settingsSlice.ts";
import { openedLink, useStudioStore, type StudioState } from "./studioStore.ts";

/** The query string for the current recipe, keeping the parameters of `currentSearch` that are not the recipe's. */
export function recipeQuery(state: StudioState, currentSearch: string): Promise<string> {
  const others = [...new URLSearchParams(currentSearch)].filter(([key]) => !RECIPE_PARAMETERS.includes(key));
  const localFolders = new Set(
    draftSlots(state).flatMap((slot) => {
      const model = slotOf(state.models, slot);
      return model.status !== "empty" && model.input.kind === "files" ? [model.input.label] : [];
    }),
  );
  const settings = { hubUrl: state.hubUrl, defaultHubUrl: DEFAULT_HUB_URL, shardSizeText: state.shardSizeText, defaultShardSize: DEFAULT_SHARD_SIZE, backend: state.backend };
  return writeRecipeLink(selectRecipe(state), settings, localFolders, others);
}

/** Loads the recipe of the opened link's `r` parameter, if any; its problems join the link's. */
async function loadOpenedRecipe(): Promise<void> {
  if (openedLink.encodedRecipe === undefined) return;
  const store = useStudioStore.getState();
  try {
    const problems = store.loadRecipe(await decodeRecipeParameter(openedLink.encodedRecipe));
    useStudioStore.setState({ linkProblems: [...store.linkProblems, ...problems.map((problem) => `The link's ${problem}`)] });
  } catch (error) {
    useStudioStore.setState({ linkProblems: [...store.linkProblems, `The link's recipe was ignored: ${(error as Error).message}.`] });
  }
}

/**
 * Keeps the address bar equal to the recipe, so that the page's URL is always a link to share:
 * after the opened link's recipe is loaded, every change writes the URL again (the latest wins).
 */
export function syncRecipeLink(): void {
  let written = 0;
  let lastInputs: unknown[] = [];
  const update = (state: StudioState) => {
    // Most changes of the store (progress, tokens) leave the link as it is: write it only when what it records changed.
    const inputs = [...Object.values(pickRecipeSource(state)), state.hubUrl, state.shardSizeText, state.backend];
    if (inputs.length === lastInputs.length && inputs.every((value, index) => value === lastInputs[index])) return;
    lastInputs = inputs;
    const ticket = ++written;
    recipeQuery(state, window.location.search).then(
      (query) => {
        if (ticket !== written || query === window.location.search) return;
        window.history.replaceState(window.history.state, "", `${window.location.pathname}${query}${window.location.hash}`);
      },
      (error: unknown) => console.warn("Merge Studio: could not write the recipe link:", error),
    );
  };
  void loadOpenedRecipe().then(() => {
    update(useStudioStore.getState());
    useStudioStore.subscribe(update);
  });
}
