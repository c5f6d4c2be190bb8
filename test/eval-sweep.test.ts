import { describe, expect, it } from "vitest";
import { UsageError } from "../src/cli/format.ts";
import { parseSweepArgs } from "../src/cli/sweepArgs.ts";
import type { MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import type { Qwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { qwen2OnnxWeightBytes } from "../src/eval/onnx/qwen2OnnxWeightBytes.ts";
import type { EvalModelResult, ProblemResult } from "../src/eval/runGsm8kEvaluation.ts";
import { assertSweepFitsMemory } from "../src/eval/sweep/assertSweepFitsMemory.ts";
import { checkAlphaZero } from "../src/eval/sweep/checkAlphaZero.ts";
import { parseAlphaList } from "../src/eval/sweep/parseAlphaList.ts";
import { sweepEvalModels } from "../src/eval/sweep/sweepEvalModels.ts";

const recipe: MergeRecipe = {
  target: "org/target",
  method: "task_arithmetic",
  parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
  vectors: [
    { plus: "org/grpo", minus: "org/sft", weight: 1 },
    { plus: "org/other", minus: "org/sft", weight: [0, 0.5] },
  ],
  vocab: "exact",
};
const weights = (model: { recipe: MergeRecipe | null }) => model.recipe?.vectors.map((vector) => vector.weight);

describe("sweepEvalModels", () => {
  it("runs the target once, then each alpha once in ascending order, then the controls; -A in the sweep is the reversed control", () => {
    const models = sweepEvalModels(recipe, [1, -1, 0.5, 0, -0, 1], { kinds: ["reversed", "random-sign"], alpha: 1, seed: 7 });
    expect(models.map((model) => [model.id, model.label, model.kind, model.alpha, model.control])).toEqual([
      ["target", "target", "target", null, null],
      ["alpha -1", "alpha -1 (reversed)", "merged", -1, "reversed"],
      ["alpha 0", "alpha 0", "merged", 0, null],
      ["alpha 0.5", "alpha 0.5", "merged", 0.5, null],
      ["alpha 1", "alpha 1", "merged", 1, null],
      ["random-sign 1 seed 7", "random-sign control (alpha 1)", "merged", 1, "random-sign"],
    ]);
    expect(models.map(weights)).toEqual([undefined, [-1, [-0, -0.5]], [0, [0, 0]], [0.5, [0, 0.25]], [1, [0, 0.5]], [1, [0, 0.5]]]);
    expect(Object.is(models[2]!.alpha, 0)).toBe(true);
    expect(models[4]!.recipe).toBe(recipe);
    expect(models[5]!.recipe).toEqual({ ...recipe, control: { kind: "random_sign", seed: 7 } });
    expect(models.slice(1, 5).every((model) => model.recipe!.control === undefined)).toBe(true);
  });

  it("adds the reversed control after the sweep when -A is not one of its alphas, at the chosen alpha", () => {
    const models = sweepEvalModels(recipe, [0.5, 2], { kinds: ["random-sign", "reversed"], alpha: 0.5, seed: 0 });
    expect(models.map((model) => [model.label, model.alpha, model.control])).toEqual([
      ["target", null, null],
      ["alpha 0.5", 0.5, null],
      ["alpha 2", 2, null],
      ["reversed (alpha -0.5)", -0.5, "reversed"],
      ["random-sign control (alpha 0.5)", 0.5, "random-sign"],
    ]);
    expect(weights(models[3]!)).toEqual([-0.5, [-0, -0.25]]);
    expect(sweepEvalModels(recipe, [], { kinds: [], alpha: 1, seed: 0 }).map((model) => model.label)).toEqual(["target"]);
  });

  it("runs a normalizing recipe at its own weights only, marks a control recipe's models, and refuses what cannot be swept", () => {
    const ties: MergeRecipe = { ...recipe, method: "ties", parameters: { ...recipe.parameters, normalize: true } };
    expect(sweepEvalModels(ties, [1], { kinds: [], alpha: 1, seed: 0 })[1]!.recipe).toBe(ties);
    expect(() => sweepEvalModels(ties, [0.5, 1], { kinds: [], alpha: 1, seed: 0 })).toThrow("set normalize to false to sweep alpha");
    const control: MergeRecipe = { ...recipe, control: { kind: "random_sign", seed: 3 } };
    expect(sweepEvalModels(control, [0, 1], { kinds: [], alpha: 1, seed: 0 }).map((model) => model.control)).toEqual([null, "random-sign", "random-sign"]);
    expect(() => sweepEvalModels(control, [1], { kinds: ["random-sign"], alpha: 1, seed: 0 })).toThrow("the recipe is already a random-sign control (seed 3)");
    expect(() => sweepEvalModels(recipe, [Number.NaN], { kinds: [], alpha: 1, seed: 0 })).toThrow("every alpha of a sweep must be a finite number, not NaN");
    expect(() => sweepEvalModels(recipe, Array.from({ length: 22 }, (_, i) => i), { kinds: [], alpha: 1, seed: 0 })).toThrow("at most 21 alphas (each a whole model run), not 22");
    expect(() => sweepEvalModels(recipe, [1], { kinds: ["reversed"], alpha: Number.POSITIVE_INFINITY, seed: 0 })).toThrow("the controls' alpha must be a finite number, not Infinity");
    expect(() => sweepEvalModels(recipe, [1], { kinds: ["random-sign"], alpha: 1, seed: 2 ** 32 })).toThrow("seed must be an integer from 0 to 4294967295, not 4294967296");
  });
});

describe("parseAlphaList", () => {
  it("reads comma lists and FROM:TO:STEP ranges with negative numbers, sorted and each once", () => {
    expect(parseAlphaList("-1,0,1")).toEqual([-1, 0, 1]);
    expect(parseAlphaList(" 1, -1 ,0.5,1,-0 ")).toEqual([-1, 0, 0.5, 1]);
    expect(parseAlphaList("-1:1.5:0.5")).toEqual([-1, -0.5, 0, 0.5, 1, 1.5]);
    expect(parseAlphaList("0:1:0.1")).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(parseAlphaList("1:-1:-0.5")).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(parseAlphaList("0:1:0.3")).toEqual([0, 0.3, 0.6, 0.9]);
    expect(parseAlphaList("2:2:1")).toEqual([2]);
    expect(parseAlphaList("")).toEqual([]);
    expect(parseAlphaList("-20:0:1")).toHaveLength(21);
  });

  it.each([
    ["1,,2", 'alpha 2 of "1,,2" must be a finite number, got ""'],
    ["NaN", 'alpha 1 of "NaN" must be a finite number, got "NaN"'],
    ["0,Infinity", 'alpha 2 of "0,Infinity" must be a finite number, got "Infinity"'],
    ["1:2", 'a range of alphas is FROM:TO:STEP (e.g. -1:1.5:0.5), got "1:2"'],
    ["1:2:3:4", 'a range of alphas is FROM:TO:STEP (e.g. -1:1.5:0.5), got "1:2:3:4"'],
    ["a:1:1", `the range's FROM must be a finite number, got "a"`],
    ["0:1:0", "the range 0:1:0 never reaches 1 from 0 in steps of 0"],
    ["0:1:-0.1", "the range 0:1:-0.1 never reaches 1 from 0 in steps of -0.1"],
    ["0:21:1", "the range 0:21:1 has 22 alphas; a sweep evaluates at most 21"],
    ["0:1e9:1", "the range 0:1e9:1 has 1000000001 alphas"],
    [Array.from({ length: 22 }, (_, i) => i).join(","), "a sweep evaluates at most 21 alphas (each a whole model run), not 22"],
  ])("refuses %s", (text, message) => {
    expect(() => parseAlphaList(text)).toThrow(message);
  });
});

describe("parseSweepArgs", () => {
  const usage = (values: Parameters<typeof parseSweepArgs>[0], message: string) => {
    let thrown: unknown;
    try {
      parseSweepArgs(values);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toBe(message);
  };

  it("reads the sweep and its controls, with defaults", () => {
    expect(parseSweepArgs({})).toEqual({ alphas: undefined, controls: [], controlAlpha: undefined, controlSeed: 0 });
    expect(parseSweepArgs({ alphas: "1,-1", control: "random-sign, reversed", "control-alpha": "-0.5", "control-seed": "4294967295" })).toEqual({
      alphas: [-1, 1],
      controls: ["random-sign", "reversed"],
      controlAlpha: -0.5,
      controlSeed: 4294967295,
    });
    expect(parseSweepArgs({ alphas: "" }).alphas).toEqual([]);
  });

  it("refuses each bad combination and value in one line", () => {
    usage({ alphas: "1", alpha: "1" }, "--alphas and --alpha both choose alpha: give one of them (--alphas 0.5 is a sweep of one)");
    usage({ alphas: "1", model: "m" }, "--alphas sweeps a recipe's alpha: give --config or --target/--plus/--minus, not --model");
    usage({ alphas: "0:2:0.05" }, "--alphas: the range 0:2:0.05 has 41 alphas; a sweep evaluates at most 21 (each a whole model run)");
    usage({ alphas: "1,nan" }, '--alphas: alpha 2 of "1,nan" must be a finite number, got "nan"');
    usage({ control: "reversed,shuffled" }, '--control takes reversed, random-sign (a comma list), not "shuffled"');
    usage({ control: "reversed,reversed" }, '--control names each control once, got "reversed,reversed"');
    usage({ control: "reversed", model: "m" }, "--control is made from a recipe: give --config or --target/--plus/--minus, not --model");
    usage({ "control-alpha": "1" }, "--control-alpha sets the controls' alpha: give --control too");
    usage({ control: "reversed", "control-seed": "1" }, "--control-seed is the random-sign control's seed: give --control random-sign too");
    usage({ control: "random-sign", "control-seed": "-1" }, '--control-seed must be an integer from 0 to 4294967295, got "-1"');
    usage({ control: "random-sign", "control-seed": "4294967296" }, '--control-seed must be an integer from 0 to 4294967295, got "4294967296"');
    usage({ control: "reversed", "control-alpha": "Infinity" }, '--control-alpha must be a finite number, got "Infinity"');
  });
});

describe("assertSweepFitsMemory", () => {
  // Qwen2.5-1.5B's shapes (config.json of Qwen/Qwen2.5-1.5B-Instruct).
  const config: Qwen2Config = {
    hiddenSize: 1536,
    intermediateSize: 8960,
    numLayers: 28,
    numHeads: 12,
    numKvHeads: 2,
    headDim: 128,
    vocabSize: 151936,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 32768,
  };

  it("lets a run whose one model fits through, and refuses one that does not before loading, naming the formats that fit", () => {
    const q8 = qwen2OnnxWeightBytes(config, "q8").total;
    // About 1.5e9 weights: int8 matrices take well over a GB, float32 four times as much.
    expect(q8).toBeGreaterThan(1.5e9);
    expect(() => assertSweepFitsMemory(config, "q8", 7, q8)).not.toThrow();
    expect(() => assertSweepFitsMemory(config, "f32", 7, q8)).toThrow(/^the 7 models of this run load one at a time, and each takes \d+\.\d\d GiB of weights in format f32, more than the 1\.\d\d GiB of memory here: choose --format q8$/);
    // q4 keeps a float32 embedding table and quantises a copy for the tied lm_head: here it is larger than q8.
    expect(() => assertSweepFitsMemory(config, "q8", 7, q8 - 1)).toThrow("each takes 1.46 GiB of weights in format q8, more than the 1.46 GiB of memory here: no format fits");
    expect(() => assertSweepFitsMemory(config, "f32", 3, 2 ** 40)).not.toThrow();
    expect(() => assertSweepFitsMemory(config, "f32", 3, 2 ** 20)).toThrow("more than the 0.00 GiB of memory here: no format fits; evaluate on a machine with more memory");
  });
});

describe("checkAlphaZero", () => {
  const answer = (problemIndex: number, output: string): ProblemResult => ({ problemIndex, output, scores: [{ extracted: null, correct: false }], correct: false, newTokens: output.length, stopReason: "eos", decodeTokensPerSecond: 1 });
  const models = sweepEvalModels(recipe, [0, 1], { kinds: [], alpha: 1, seed: 0 });
  const run = { batchSize: 1, loadSeconds: 0, seconds: 1, prefillSeconds: 0, decodeSeconds: 0, newTokens: 0, tokensPerSecond: 0 };
  const target = [answer(4, "twelve"), answer(8, "7"), answer(9, "x")];

  it("is silent when alpha 0 gives the target's answers, and names the problems where it does not", () => {
    const results = (zero: ProblemResult[]): EvalModelResult[] => [
      { id: "target", answers: target, run },
      { id: "alpha 0", answers: zero, run },
      { id: "alpha 1", answers: [answer(4, "other"), answer(8, "8"), answer(9, "y")], run },
    ];
    expect(checkAlphaZero(models, results(target))).toEqual([]);
    expect(checkAlphaZero(models, results([answer(4, "twelve"), answer(8, "8"), answer(9, "y")]))).toEqual(["alpha 0 must give exactly the target's answers, but differs on #8, #9"]);
    const bf16 = sweepEvalModels({ ...recipe, out_dtype: "BF16" }, [0], { kinds: [], alpha: 1, seed: 0 });
    expect(checkAlphaZero(bf16, results([answer(4, "twelve"), answer(8, "7"), answer(9, "z")]))).toEqual([
      "alpha 0 must give exactly the target's answers, but differs on #9 (the recipe's out_dtype BF16 rounds the target's weights)",
    ]);
    expect(checkAlphaZero(models.slice(1), results(target)), "no target in the run: nothing to compare").toEqual([]);
  });
});
