import type { FloatDtype } from "../dtypes.ts";
import type { RecipeMethodId } from "./TensorRecipe.ts";

/**
 * The recipe of ../shared/recipe-v2.md ("The recipe file"), in its canonical form: what
 * parseRecipeJson and parseMergekitYaml return and renderRecipeJson writes. Settings stay as
 * written (a number, a layer gradient or filtered conditions); resolveTensorRecipe evaluates them
 * for one tensor. Model specs are strings: a Hub id `owner/name[@revision]` or a folder path.
 */

/** One entry of a conditions list: applies when `filter` is absent, "*" or a substring of the tensor name. */
export interface SettingCondition {
  filter?: string;
  /** A number or a layer gradient. */
  value: number | number[];
}

/** A number, a layer gradient (read at the tensor's position t), or conditions (the first that applies). */
export type Setting = number | number[] | SettingCondition[];

/** The three settings a vector may have, each falling back to the recipe's `parameters`. */
export const VECTOR_SETTINGS = ["weight", "density", "gamma"] as const;
export type VectorSettingName = (typeof VECTOR_SETTINGS)[number];

/** A term j: the vector plus_j - minus_j and its own settings (absent: the recipe's `parameters`). */
export interface RecipeVector {
  plus: string;
  minus: string;
  weight?: Setting;
  density?: Setting;
  gamma?: Setting;
}

export interface RecipeParameters {
  normalize: boolean;
  /** DARE only: divide kept values by density. */
  rescale: boolean;
  /** Unsigned 32-bit seed of DARE's random keep. */
  seed: number;
  /** The default weight of the vectors; none: every vector has its own. */
  weight?: Setting;
  density: Setting;
  gamma: Setting;
}

export interface RandomSignControl {
  kind: "random_sign";
  /** Unsigned 32-bit seed of the random signs. */
  seed: number;
}

/** `exact`: the vocabularies must have the same rows; `common`: the first C rows are merged, C the smallest. */
export type VocabMode = "exact" | "common";

export interface MergeRecipe {
  target: string;
  method: RecipeMethodId;
  parameters: RecipeParameters;
  /** At least one. */
  vectors: RecipeVector[];
  control?: RandomSignControl;
  /** Absent: the target's dtype. */
  out_dtype?: FloatDtype;
  vocab: VocabMode;
}

export const DEFAULT_DENSITY = 1;
export const DEFAULT_GAMMA = 0.01;

/** The parameters of a recipe that sets none: normalize for `ties` only (mergekit's registry), rescale, seed 0. */
export function defaultRecipeParameters(method: RecipeMethodId): RecipeParameters {
  return { normalize: method === "ties", rescale: true, seed: 0, density: DEFAULT_DENSITY, gamma: DEFAULT_GAMMA };
}

export function isSettingConditions(setting: Setting): setting is SettingCondition[] {
  return Array.isArray(setting) && setting.some((entry) => typeof entry === "object");
}
