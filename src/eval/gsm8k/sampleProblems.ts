import type { Gsm8kProblem } from "./parseGsm8k.ts";

export const DEFAULT_SAMPLE_COUNT = 20;
export const DEFAULT_SAMPLE_SEED = 2509;

/**
 * `count` distinct problems chosen at random but reproducibly from `seed` (an integer in
 * [0, 2^32)), returned in test-set order. The choice is the first `count` steps of a Fisher-Yates
 * shuffle of the indices driven by mulberry32 (a 32-bit generator: a Weyl sequence with step
 * 0x6d2b79f5 through a multiply-xorshift mix). So a larger sample with the same seed contains every
 * problem of a smaller one, and the same seed gives the same problems on every machine.
 */
export function sampleProblems<Problem = Gsm8kProblem>(problems: readonly Problem[], count: number, seed: number): Problem[] {
  if (!Number.isInteger(count) || count < 0 || count > problems.length) {
    throw new RangeError(`cannot sample ${count} problems from ${problems.length}: the count must be an integer from 0 to ${problems.length}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed ${seed} must be an integer in [0, 2^32)`);
  const nextUniform = mulberry32(seed);
  const order = problems.map((_, position) => position);
  for (let step = 0; step < count; step++) {
    // floor(u * n) with 32-bit u: each index's probability is off by less than n / 2^32.
    const pick = step + Math.floor(nextUniform() * (order.length - step));
    [order[step], order[pick]] = [order[pick]!, order[step]!];
  }
  return order
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((position) => problems[position]!);
}

/**
 * The problems with the given ids (Gsm8kProblem.index, a toy set's line index), in the order
 * given: a sample picked by hand. Throws on an unknown or repeated id; `what` names a problem there.
 */
export function selectProblems<Problem extends { index: number } = Gsm8kProblem>(problems: readonly Problem[], ids: readonly number[], what = "GSM8K problem"): Problem[] {
  const byId = new Map(problems.map((problem) => [problem.index, problem]));
  const seen = new Set<number>();
  return ids.map((id) => {
    const problem = byId.get(id);
    if (problem === undefined) throw new RangeError(`no ${what} has id ${id}`);
    if (seen.has(id)) throw new RangeError(`${what} ${id} is chosen twice`);
    seen.add(id);
    return problem;
  });
}

/** mulberry32: uniform numbers in [0, 1) with 32 bits each. */
function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}
