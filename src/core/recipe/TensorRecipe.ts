/**
 * The recipe of ../shared/recipe-v2.md resolved for one tensor X: every setting evaluated to a plain
 * number ("Settings per tensor"), the terms that are dropped for X left out. What the merge kernels
 * take; nothing here depends on how the recipe was written (JSON, mergekit YAML, CLI flags, a link).
 */

/** mergekit's names. */
export const RECIPE_METHODS = ["task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs", "breadcrumbs_ties"] as const;
export type RecipeMethodId = (typeof RECIPE_METHODS)[number];

/** How a method picks the elements each vector keeps (step 3 of the contract). */
export type Sparsification = "none" | "magnitude" | "random" | "magnitude_outliers";

export const METHOD_STEPS: Record<RecipeMethodId, { sparsification: Sparsification; consensus: boolean }> = {
  task_arithmetic: { sparsification: "none", consensus: false },
  ties: { sparsification: "magnitude", consensus: true },
  dare_linear: { sparsification: "random", consensus: false },
  dare_ties: { sparsification: "random", consensus: true },
  breadcrumbs: { sparsification: "magnitude_outliers", consensus: false },
  breadcrumbs_ties: { sparsification: "magnitude_outliers", consensus: true },
};

/** One term (vector j = plus_j - minus_j) as it applies to X. */
export interface TensorTerm {
  /** j: the term's index in the recipe (0-based), also when earlier terms are dropped for X. */
  index: number;
  /** w_j = fl32(weight), never 0 (a term whose weight rounds to 0 is dropped). */
  weight: number;
  /** rho_j in [0, 1] (1 when the method does not sparsify); never 0 under a sparsifying method (dropped). */
  density: number;
  /** g_j in [0, 1] (breadcrumbs only; 0.01 by default). */
  gamma: number;
}

export interface TensorRecipe {
  /** X's name, as in the target's safetensors header (keys the hash H). */
  tensorName: string;
  method: RecipeMethodId;
  /** The terms left for X, in recipe order. None: X is the target's tensor, copied (or converted). */
  terms: TensorTerm[];
  normalize: boolean;
  /** DARE only: divide kept values by density. */
  rescale: boolean;
  /** Unsigned 32-bit seed of DARE's random keep (stream 1). */
  seed: number;
  /** The random_sign control: each element of each vector gets a random sign (stream 2 of H with this seed). */
  control?: { kind: "random_sign"; seed: number };
}
