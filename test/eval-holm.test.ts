import { describe, expect, it } from "vitest";
import { compareWithTarget } from "../src/eval/stats/compareWithTarget.ts";
import { holmAdjust } from "../src/eval/stats/holmAdjust.ts";
import { mcnemarExactPValue } from "../src/eval/stats/pairedComparison.ts";

describe("holmAdjust", () => {
  it("matches Holm's step-down values worked out by hand, in the input's order", () => {
    // Sorted 0.01, 0.02, 0.03, 0.04 (m = 4): 4*0.01 = 0.04, 3*0.02 = 0.06, 2*0.03 = 0.06, 1*0.04 = 0.04 -> running max 0.06.
    const adjusted = holmAdjust([0.03, 0.01, 0.04, 0.02]);
    const expected = [0.06, 0.04, 0.06, 0.06];
    adjusted.forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 15));
    // 0.005, 0.04, 0.5 (m = 3): 0.015, 0.08, 0.5; a value that would pass 1 is capped.
    const second = holmAdjust([0.5, 0.005, 0.04]);
    [0.5, 0.015, 0.08].forEach((value, i) => expect(second[i]).toBeCloseTo(value, 15));
    // 0.4, 0.6: 2 * 0.4 = 0.8, then max(0.8, 1 * 0.6) = 0.8; 0.6, 0.7: 2 * 0.6 = 1.2 is capped at 1.
    expect(holmAdjust([0.4, 0.6])).toEqual([0.8, 0.8]);
    expect(holmAdjust([0.7, 0.6])).toEqual([1, 1]);
  });

  it("keeps a single p-value, takes ties and an empty list, and refuses values outside [0, 1]", () => {
    expect(holmAdjust([0.03])).toEqual([0.03]);
    expect(holmAdjust([])).toEqual([]);
    expect(holmAdjust([0.01, 0.01])).toEqual([0.02, 0.02]);
    expect(() => holmAdjust([0.1, Number.NaN])).toThrow("p-value 1 must lie in [0, 1], not NaN");
    expect(() => holmAdjust([1.5])).toThrow("p-value 0 must lie in [0, 1], not 1.5");
  });
});

describe("compareWithTarget", () => {
  it("scores each model, compares each other model with the target and Holm-adjusts over the run's comparisons", () => {
    const T = true;
    const F = false;
    const models = [
      { id: "alpha 1", correct: [T, T, T, T, T, F] },
      { id: "target", correct: [F, F, F, T, T, F] },
      { id: "alpha 0", correct: [F, F, F, T, T, F] },
      { id: "partial", correct: [T] },
    ];
    const [one, target, zero, partial] = compareWithTarget(models, "target");
    // alpha 1 vs target: 3 fixed (positions 0-2), none broken: p = 2 * (1/2)^3 = 0.25; alpha 0: no discordant pair, p = 1.
    expect(one).toMatchObject({ id: "alpha 1", correct: 5, total: 6, vsTarget: { wrongToRight: 3, rightToWrong: 0, bothCorrect: 2, bothWrong: 1 } });
    expect(zero).toMatchObject({ correct: 2, total: 6, vsTarget: { wrongToRight: 0, rightToWrong: 0, pValue: 1 } });
    expect(one!.vsTarget!.pValue).toBeCloseTo(0.25, 14);
    expect(one!.vsTarget!.pValue).toBe(mcnemarExactPValue(0, 3));
    // Two comparisons: sorted 0.25, 1 -> 2 * 0.25 = 0.5, max(0.5, 1 * 1) = 1.
    expect(one!.vsTarget!.holmPValue).toBeCloseTo(0.5, 14);
    expect(zero!.vsTarget!.holmPValue).toBe(1);
    expect(target!.vsTarget).toBeNull();
    expect(partial!.vsTarget, "a model that answered another number of problems is not compared").toBeNull();
    expect(target!.accuracy!.estimate).toBeCloseTo(2 / 6, 15);
    expect(compareWithTarget([{ id: "a", correct: [] }], null)).toEqual([{ id: "a", correct: 0, total: 0, accuracy: null, vsTarget: null }]);
  });
});
