import { describe, expect, it } from "vitest";
import { mcnemarExactPValue, pairedComparison } from "../src/eval/stats/pairedComparison.ts";
import { wilsonInterval, Z_95 } from "../src/eval/stats/wilsonInterval.ts";

/**
 * A second Wilson implementation: the interval is the set of p with |x/n - p| <= z sqrt(p(1-p)/n),
 * i.e. between the roots of (n + z^2) p^2 - (2x + z^2) p + x^2/n = 0.
 */
function wilsonByQuadratic(successes: number, trials: number, z: number): [number, number] {
  const a = trials + z * z;
  const b = -(2 * successes + z * z);
  const c = (successes * successes) / trials;
  const root = Math.sqrt(b * b - 4 * a * c);
  return [(-b - root) / (2 * a), (-b + root) / (2 * a)];
}

/** A second McNemar implementation: exact rationals, sum of C(n, k) for k <= min(b, c), over 2^n. */
function mcnemarByBigInt(b: number, c: number): number {
  const n = BigInt(b + c);
  let choose = 1n;
  let tail = 0n;
  for (let k = 0n; k <= BigInt(Math.min(b, c)); k++) {
    if (k > 0n) choose = (choose * (n - k + 1n)) / k;
    tail += choose;
  }
  const numerator = 2n * tail;
  const denominator = 1n << n;
  if (numerator >= denominator) return 1;
  // numerator / denominator as a double: scale to about 64 significant bits, divide exactly, scale back.
  const shift = denominator.toString(2).length - numerator.toString(2).length + 64;
  return Number((numerator << BigInt(shift)) / denominator) * 2 ** -shift;
}

describe("wilsonInterval", () => {
  it("matches intervals worked out by hand", () => {
    // 15/20 and 50/100: the 95% Wilson intervals printed in textbooks, to 4 decimals.
    const fifteenOfTwenty = wilsonInterval(15, 20);
    expect(fifteenOfTwenty.estimate).toBe(0.75);
    expect(fifteenOfTwenty.low).toBeCloseTo(0.5313, 4);
    expect(fifteenOfTwenty.high).toBeCloseTo(0.8881, 4);
    const half = wilsonInterval(50, 100);
    expect(half.low).toBeCloseTo(0.4038, 4);
    expect(half.high).toBeCloseTo(0.5962, 4);
    // 0/n: [0, z^2 / (n + z^2)]; n/n: [n / (n + z^2), 1].
    const zz = Z_95 * Z_95;
    expect(wilsonInterval(0, 20)).toEqual({ estimate: 0, low: 0, high: expect.closeTo(zz / (20 + zz), 14) });
    expect(wilsonInterval(20, 20)).toEqual({ estimate: 1, low: expect.closeTo(20 / (20 + zz), 14), high: 1 });
  });

  it("agrees with the quadratic's roots for every count up to 60", () => {
    for (let trials = 1; trials <= 60; trials++) {
      for (let successes = 0; successes <= trials; successes++) {
        const [low, high] = wilsonByQuadratic(successes, trials, Z_95);
        const interval = wilsonInterval(successes, trials);
        expect(interval.low).toBeCloseTo(Math.max(0, low), 12);
        expect(interval.high).toBeCloseTo(Math.min(1, high), 12);
        expect(interval.low).toBeLessThanOrEqual(interval.estimate);
        expect(interval.high).toBeGreaterThanOrEqual(interval.estimate);
      }
    }
  });

  it("narrows with a smaller z", () => {
    const wide = wilsonInterval(12, 20);
    const narrow = wilsonInterval(12, 20, 1);
    expect(narrow.low).toBeGreaterThan(wide.low);
    expect(narrow.high).toBeLessThan(wide.high);
  });

  it("refuses counts that are not a proportion", () => {
    expect(() => wilsonInterval(0, 0)).toThrow("trials must be a positive integer, not 0");
    expect(() => wilsonInterval(21, 20)).toThrow("successes must be an integer from 0 to 20, not 21");
    expect(() => wilsonInterval(1.5, 20)).toThrow(RangeError);
    expect(() => wilsonInterval(1, 20, 0)).toThrow("z must be positive, not 0");
  });
});

describe("mcnemarExactPValue", () => {
  it("matches p-values worked out by hand", () => {
    expect(mcnemarExactPValue(0, 5)).toBeCloseTo(0.0625, 15); // 2 * (1/32)
    expect(mcnemarExactPValue(1, 9)).toBeCloseTo(0.021484375, 15); // 2 * (1 + 10) / 1024
    expect(mcnemarExactPValue(3, 7)).toBeCloseTo(0.34375, 15); // 2 * (1 + 10 + 45 + 120) / 1024
    expect(mcnemarExactPValue(9, 1)).toBe(mcnemarExactPValue(1, 9));
    expect(mcnemarExactPValue(0, 0)).toBe(1);
    expect(mcnemarExactPValue(4, 4)).toBe(1); // 2 * P(X <= 4), X ~ Bin(8, 1/2), is above 1
    expect(mcnemarExactPValue(0, 1)).toBe(1);
  });

  it("agrees with exact rational arithmetic, far past where 2^-n underflows", () => {
    const cases = [
      [2, 30],
      [10, 25],
      [40, 60],
      [400, 600],
      [100, 1000],
      [2000, 2300],
      [700, 1319],
    ] as const;
    for (const [b, c] of cases) {
      const expected = mcnemarByBigInt(b, c);
      expect(expected).toBeGreaterThan(0);
      expect(Math.abs(mcnemarExactPValue(b, c) - expected) / expected).toBeLessThan(1e-10);
    }
  });

  it("refuses counts that are not counts", () => {
    expect(() => mcnemarExactPValue(-1, 3)).toThrow("b must be a non-negative integer, not -1");
    expect(() => mcnemarExactPValue(1, 2.5)).toThrow("c must be a non-negative integer, not 2.5");
  });
});

describe("pairedComparison", () => {
  it("counts agreements and flips position by position", () => {
    const target = [true, true, true, false, false, true, false, false];
    const merged = [true, false, true, true, true, true, true, false];
    expect(pairedComparison(target, merged)).toEqual({
      bothCorrect: 3,
      bothWrong: 1,
      rightToWrong: 1,
      wrongToRight: 3,
      pValue: 0.625, // 2 * (1 + 4) / 16
    });
  });

  it("gives p = 0.0625 when 5 problems flip from wrong to right and none back", () => {
    const merged = Array<boolean>(20).fill(true);
    const target = merged.map((_, position) => position >= 5);
    expect(pairedComparison(target, merged)).toMatchObject({ rightToWrong: 0, wrongToRight: 5, pValue: expect.closeTo(0.0625, 15) });
  });

  it("refuses results of different lengths", () => {
    expect(() => pairedComparison([true], [true, false])).toThrow("paired results differ in length: 1 for the target, 2 for the merged model");
  });
});
