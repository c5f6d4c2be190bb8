/** Target and merged model scored on the same problems. */
export interface PairedComparison {
  bothCorrect: number;
  bothWrong: number;
  /** Target correct, merged wrong (McNemar's b). */
  rightToWrong: number;
  /** Target wrong, merged correct (McNemar's c). */
  wrongToRight: number;
  /** Exact two-sided McNemar p-value (see mcnemarExactPValue). */
  pValue: number;
}

/** Compares two models' correctness on the same problems, position by position. */
export function pairedComparison(targetCorrect: readonly boolean[], mergedCorrect: readonly boolean[]): PairedComparison {
  if (targetCorrect.length !== mergedCorrect.length) {
    throw new RangeError(`paired results differ in length: ${targetCorrect.length} for the target, ${mergedCorrect.length} for the merged model`);
  }
  const counts = { bothCorrect: 0, bothWrong: 0, rightToWrong: 0, wrongToRight: 0 };
  targetCorrect.forEach((target, position) => {
    const merged = mergedCorrect[position]!;
    if (target && merged) counts.bothCorrect++;
    else if (!target && !merged) counts.bothWrong++;
    else if (target) counts.rightToWrong++;
    else counts.wrongToRight++;
  });
  return { ...counts, pValue: mcnemarExactPValue(counts.rightToWrong, counts.wrongToRight) };
}

/**
 * The exact (binomial) two-sided McNemar test on the discordant pairs b and c: under "both models
 * are equally good", each of the n = b + c discordant problems goes either way with probability
 * 1/2, so p = min(1, 2 P(X <= min(b, c))) with X ~ Binomial(n, 1/2); p = 1 when n = 0.
 * The binomial terms are summed in log space (log C(n, k) built up term by term, then a
 * log-sum-exp), so that 2^-n does not underflow for any n.
 */
export function mcnemarExactPValue(b: number, c: number): number {
  for (const [name, count] of [["b", b], ["c", c]] as const) {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`${name} must be a non-negative integer, not ${count}`);
  }
  const n = b + c;
  if (n === 0) return 1;
  const smaller = Math.min(b, c);
  const logTerms: number[] = [];
  let logChoose = 0;
  for (let k = 0; k <= smaller; k++) {
    if (k > 0) logChoose += Math.log(n - k + 1) - Math.log(k);
    logTerms.push(logChoose - n * Math.LN2);
  }
  const largest = Math.max(...logTerms);
  const logTail = largest + Math.log(logTerms.reduce((sum, term) => sum + Math.exp(term - largest), 0));
  return Math.min(1, 2 * Math.exp(logTail));
}
