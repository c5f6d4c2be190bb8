/** The standard normal quantile for a two-sided 95% interval: Phi^-1(0.975). */
export const Z_95 = 1.959963984540054;

export interface ProportionEstimate {
  /** successes / trials. */
  estimate: number;
  low: number;
  high: number;
}

/**
 * A proportion (here: accuracy) with its Wilson score interval, by default at 95%:
 *   center = (p + z^2 / 2n) / (1 + z^2 / n)
 *   half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
 * where p = successes / n. Unlike the normal approximation p +- z sqrt(p(1-p)/n), it stays inside
 * [0, 1] and does not shrink to a point at 0/n or n/n, which matters for the small samples (20
 * problems) an in-browser evaluation runs.
 */
export function wilsonInterval(successes: number, trials: number, z = Z_95): ProportionEstimate {
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`trials must be a positive integer, not ${trials}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > trials) {
    throw new RangeError(`successes must be an integer from 0 to ${trials}, not ${successes}`);
  }
  if (!(z > 0)) throw new RangeError(`z must be positive, not ${z}`);
  const p = successes / trials;
  const zz = z * z;
  const denominator = 1 + zz / trials;
  const center = (p + zz / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + zz / (4 * trials * trials));
  // At 0/n and n/n the formula's end is exactly 0 or 1; computed, it can miss by a rounding error.
  return { estimate: p, low: successes === 0 ? 0 : center - half, high: successes === trials ? 1 : center + half };
}
