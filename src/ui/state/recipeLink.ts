import { parseFloatDtype, type FloatDtype } from "../../core/dtypes.ts";
import { BACKEND_CHOICES, isBackendChoice, type BackendChoice } from "../../core/engine/createBackendComputer.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import { renderRecipeJson } from "../../core/recipe/renderRecipeJson.ts";
import { parseByteSize } from "../../core/safetensors/planShards.ts";
import { parseHubSpec } from "../../core/sources/parseHubSpec.ts";
import type { HubInput } from "./modelInput.ts";
import { oneVectorAlpha } from "./recipeDraft.ts";

/** The three models of the one-vector recipe, as the old link parameters name them. */
export const ONE_VECTOR_ROLES = ["target", "plus", "minus"] as const;
export type OneVectorRole = (typeof ONE_VECTOR_ROLES)[number];

/** The parameter that carries a whole recipe (any method, any number of vectors). */
export const RECIPE_PARAMETER = "r";

/** The query parameters a recipe link owns; any other parameter of the page's URL is left alone. */
export const RECIPE_PARAMETERS: readonly string[] = ["hub", RECIPE_PARAMETER, ...ONE_VECTOR_ROLES, "alpha", "dtype", "shard", "vocab", "backend"];

/**
 * A model spec in a link's recipe: a Hub id, or EMPTY_SLOT for a model not picked yet. A local
 * folder's name travels too, so that the page opening the link can say which folder to pick again.
 */
export const EMPTY_SLOT = ".";

/** The recipe a shared link carries (never the access token), as read synchronously from the query. */
export interface LinkRecipe {
  /** The models of the one-vector form (old links: target, plus, minus, alpha). */
  inputs: Partial<Record<OneVectorRole, HubInput>>;
  alpha?: number;
  outDtype?: FloatDtype;
  shardSize?: string;
  vocab?: MergeRecipe["vocab"];
  backend?: BackendChoice;
  /** The `r` parameter as found: decodeRecipeParameter reads it (asynchronously). */
  encodedRecipe?: string;
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
  attempt(RECIPE_PARAMETER, (value) => (link.encodedRecipe = value));
  for (const role of ONE_VECTOR_ROLES) {
    attempt(role, (value) => {
      if (link.encodedRecipe !== undefined) throw new Error(`the recipe comes from the link's “${RECIPE_PARAMETER}” parameter`);
      link.inputs[role] = hubInput(value);
    });
  }
  attempt("alpha", (value) => {
    if (link.encodedRecipe !== undefined) throw new Error(`the recipe comes from the link's “${RECIPE_PARAMETER}” parameter`);
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

export function hubInput(spec: string): HubInput {
  const { repoId, revision } = parseHubSpec(spec);
  return { kind: "hub", repo: repoId, ...(revision ? { revision } : {}) };
}

/** The parts of the page's state a link records besides the recipe. */
export interface LinkSettings {
  hubUrl: string;
  /** The Hub a link without `hub` means. */
  defaultHubUrl: string;
  shardSizeText: string;
  defaultShardSize: string;
  backend: BackendChoice;
}

/**
 * The query string of a shareable link to `recipe` (model specs: Hub ids, EMPTY_SLOT, or a local
 * folder's name, which the opening page names as one to pick again), after `others` (parameters
 * the recipe does not own). The one-vector task_arithmetic recipe with a number weight keeps the
 * readable form target=&plus=&minus=&alpha=; any other recipe travels whole in `r`.
 */
export async function writeRecipeLink(recipe: MergeRecipe, settings: LinkSettings, localFolders: ReadonlySet<string>, others: [string, string][] = []): Promise<string> {
  const entries: [string, string][] = [...others];
  if (settings.hubUrl !== settings.defaultHubUrl) entries.push(["hub", settings.hubUrl]);
  const alpha = oneVectorAlpha(recipe);
  if (alpha !== undefined) {
    const [vector] = recipe.vectors;
    const specs: Record<OneVectorRole, string> = { target: recipe.target, plus: vector!.plus, minus: vector!.minus };
    for (const role of ONE_VECTOR_ROLES) {
      if (specs[role] !== EMPTY_SLOT && !localFolders.has(specs[role])) entries.push([role, specs[role]]);
    }
    entries.push(["alpha", String(alpha)]);
    if (recipe.out_dtype) entries.push(["dtype", recipe.out_dtype.toLowerCase()]);
    if (recipe.vocab !== "exact") entries.push(["vocab", recipe.vocab]);
  } else {
    entries.push([RECIPE_PARAMETER, await encodeRecipeParameter(recipe)]);
  }
  if (settings.shardSizeText.trim() !== settings.defaultShardSize) entries.push(["shard", settings.shardSizeText.trim()]);
  if (settings.backend !== "auto") entries.push(["backend", settings.backend]);
  return `?${entries.map(([key, value]) => `${key}=${encodeQueryValue(value)}`).join("&")}`;
}

/** Like encodeURIComponent, but keeps "/", ":" and "@" readable: they are legal in a query. */
function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/gi, "/").replace(/%3A/gi, ":").replace(/%40/g, "@");
}

/** The recipe's canonical JSON, compact, without the values parseRecipeJson fills in by default. */
function compactRecipeJson(recipe: MergeRecipe): string {
  const canonical = JSON.parse(renderRecipeJson(recipe)) as Record<string, unknown> & { parameters: Record<string, unknown> };
  const defaults = defaultRecipeParameters(recipe.method) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(canonical.parameters)) {
    if (defaults[key] === value) delete canonical.parameters[key];
  }
  if (Object.keys(canonical.parameters).length === 0) delete (canonical as Partial<typeof canonical>).parameters;
  if (canonical.vocab === "exact") delete canonical.vocab;
  return JSON.stringify(canonical);
}

async function transform(bytes: Uint8Array<ArrayBuffer>, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("it is not base64url text");
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** The `r` parameter of a recipe: base64url of its compact canonical JSON, deflated (raw deflate). */
export async function encodeRecipeParameter(recipe: MergeRecipe): Promise<string> {
  return toBase64Url(await transform(new TextEncoder().encode(compactRecipeJson(recipe)), new CompressionStream("deflate-raw")));
}

/** The recipe of an `r` parameter, checked as a recipe file is; an error says what is wrong with it. */
export async function decodeRecipeParameter(text: string): Promise<MergeRecipe> {
  let json: string;
  try {
    json = new TextDecoder("utf-8", { fatal: true }).decode(await transform(fromBase64Url(text), new DecompressionStream("deflate-raw")));
  } catch (error) {
    throw new Error(`it is not a recipe this studio wrote (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  return parseRecipeJson(json, "recipe");
}
