/**
 * The hash H of ../shared/recipe-v2.md: a PCG-style permutation chained over the seed, the tensor,
 * the stream, the term and the element index, all in unsigned 32-bit arithmetic (Math.imul and
 * `>>> 0` give exactly the contract's mod 2^32 products and sums).
 */

/** Stream 1 of H: DARE's random keep. */
export const RANDOM_KEEP_STREAM = 1;
/** Stream 2 of H: the random_sign control. */
export const RANDOM_SIGN_STREAM = 2;

/** pcg(x): one round of the permutation; x and the result are unsigned 32-bit integers. */
export function pcg(x: number): number {
  const s = (Math.imul(x, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

const utf8 = new TextEncoder();

/** key(X): FNV-1a over the UTF-8 bytes of the tensor name. */
export function tensorKey(tensorName: string): number {
  let h = 2166136261;
  for (const byte of utf8.encode(tensorName)) h = Math.imul(h ^ byte, 16777619) >>> 0;
  return h;
}

/**
 * The part of H that does not depend on the element: pcg(pcg(pcg(seed ^ key) + stream) + term).
 * `term` is j, the term's index in the recipe.
 */
export function hashPrefix(seed: number, key: number, stream: number, term: number): number {
  return pcg((pcg((pcg((seed ^ key) >>> 0) + stream) >>> 0) + term) >>> 0);
}

/** H for element e (an integer in [0, 2^53)) given hashPrefix(seed, key, stream, j). */
export function hashElement(prefix: number, element: number): number {
  const low = element >>> 0;
  const high = Math.floor(element / 4294967296) >>> 0;
  return pcg((pcg((prefix + low) >>> 0) + high) >>> 0);
}

/** H(seed, X, stream, j, e) of the contract, X given by its name. */
export function recipeHash(seed: number, tensorName: string, stream: number, term: number, element: number): number {
  return hashElement(hashPrefix(seed >>> 0, tensorKey(tensorName), stream, term), element);
}
