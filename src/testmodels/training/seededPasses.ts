import { nextBelow, type SplitMix32 } from "../seededGaussian.ts";

/**
 * The indices 0..count-1 in seeded passes: at the start of each pass the order is shuffled again
 * (Fisher-Yates, from the last index down, on the previous pass's order), so every item is used
 * once per pass. Each call gives the next index.
 */
export function seededPasses(count: number, rng: SplitMix32): () => number {
  const order = Array.from({ length: count }, (_, index) => index);
  let cursor = count;
  return () => {
    if (cursor === count) {
      for (let i = count - 1; i > 0; i--) {
        const j = nextBelow(rng, i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      cursor = 0;
    }
    return order[cursor++]!;
  };
}
