/**
 * Holm's step-down adjustment of m p-values for testing them together (family-wise error rate):
 * with the p-values sorted ascending, p(1) <= ... <= p(m), the adjusted value of the i-th is
 * max over j <= i of min(1, (m - j + 1) p(j)). It is never below the raw p-value, never above 1,
 * and keeps the order of the raw values; it is returned in the input's order. Ties keep their
 * input order, which does not change the result.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  pValues.forEach((p, index) => {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`p-value ${index} must lie in [0, 1], not ${p}`);
  });
  const m = pValues.length;
  const order = pValues.map((_, index) => index).sort((a, b) => pValues[a]! - pValues[b]! || a - b);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * pValues[index]!));
    adjusted[index] = running;
  });
  return adjusted;
}
