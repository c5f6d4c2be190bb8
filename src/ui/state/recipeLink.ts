import { parseFloatDtype, type FloatDtype } from "../../core/dtypes.ts";
import { BACKEND_CHOICES, isBackendChoice, type BackendChoice } from "../../core/engine/createBackendComputer.ts";
import type { VocabMode } from "../../core/recipe/MergeRecipe.ts";
import { parseByteSize } from "../../core/safetensors/planShards.ts";
import { parseHubSpec } from "../../core/sources/openHubSource.ts";
import { DEFAULT_HUB_URL } from "./hubUrl.ts";
import type { HubInput, ModelInput } from "./modelInput.ts";

/** The studio's three model slots (the one-vector recipe). */
export type Role = "target" | "plus" | "minus";

export const ROLES: readonly Role[] = ["target", "plus", "minus"];

/** The query parameters a recipe link owns; any other parameter of the page's URL is left alone. */
export const RECIPE_PARAMETERS: readonly string[] = ["hub", ...ROLES, "alpha", "dtype", "shard", "vocab", "backend"];

/** The recipe a shared link carries (never the access token). */
export interface LinkRecipe {
  inputs: Partial<Record<Role, HubInput>>;
  alpha?: number;
  outDtype?: FloatDtype;
  shardSize?: string;
  vocab?: VocabMode;
  backend?: BackendChoice;
  /** What in the link could not be used, in plain words. */
  problems: string[];
}

export function readRecipeLink(search: string): LinkRecipe {
  const query = new URLSearchParams(search);
  const link: LinkRecipe = { inputs: {}, problems: [] };
  const attempt = (what: string, apply: (value: string) => void) => {
    const value = query.get(what);
    if (value === null) return;
    try {
      apply(value);
    } catch (error) {
      link.problems.push(`The link's ${what} “${value}” was ignored: ${(error as Error).message}.`);
    }
  };
  for (const role of ROLES) {
    attempt(role, (value) => {
      const { repoId, revision } = parseHubSpec(value);
      link.inputs[role] = { kind: "hub", repo: repoId, ...(revision ? { revision } : {}) };
    });
  }
  attempt("alpha", (value) => {
    const alpha = Number(value);
    if (value.trim() === "" || !Number.isFinite(alpha)) throw new Error("alpha must be a finite number");
    link.alpha = alpha;
  });
  attempt("dtype", (value) => (link.outDtype = parseFloatDtype(value)));
  attempt("shard", (value) => {
    parseByteSize(value);
    link.shardSize = value;
  });
  attempt("vocab", (value) => {
    if (value !== "common" && value !== "exact") throw new Error('use "common" or "exact"');
    link.vocab = value;
  });
  attempt("backend", (value) => {
    if (!isBackendChoice(value)) throw new Error(`use ${BACKEND_CHOICES.map((choice) => `"${choice}"`).join(", ")}`);
    link.backend = value;
  });
  return link;
}

export interface RecipeForLink {
  hubUrl: string;
  inputs: Record<Role, ModelInput | undefined>;
  alpha: number;
  outDtype: FloatDtype | "target";
  shardSizeText: string;
  defaultShardSize: string;
  vocab: VocabMode;
  backend: BackendChoice;
}

/**
 * The query string of a shareable link to this recipe, after `others` (parameters the recipe does
 * not own). Local folders cannot travel in a link and are left out.
 */
export function writeRecipeLink(recipe: RecipeForLink, others: [string, string][] = []): string {
  const entries: [string, string][] = [...others];
  if (recipe.hubUrl !== DEFAULT_HUB_URL) entries.push(["hub", recipe.hubUrl]);
  for (const role of ROLES) {
    const input = recipe.inputs[role];
    if (input?.kind === "hub") entries.push([role, input.revision ? `${input.repo}@${input.revision}` : input.repo]);
  }
  entries.push(["alpha", String(recipe.alpha)]);
  if (recipe.outDtype !== "target") entries.push(["dtype", recipe.outDtype.toLowerCase()]);
  if (recipe.shardSizeText.trim() !== recipe.defaultShardSize) entries.push(["shard", recipe.shardSizeText.trim()]);
  if (recipe.vocab !== "exact") entries.push(["vocab", recipe.vocab]);
  if (recipe.backend !== "auto") entries.push(["backend", recipe.backend]);
  return `?${entries.map(([key, value]) => `${key}=${encodeQueryValue(value)}`).join("&")}`;
}

/** Like encodeURIComponent, but keeps "/", ":" and "@" readable: they are legal in a query. */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/gi, "/").replace(/%3A/gi, ":").replace(/%40/g, "@");
}
