import { describe, expect, it } from "vitest";
import type { MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { buildEvalReport, type EvalModelDescription } from "../src/eval/report/buildEvalReport.ts";
import type { EvaluatedTask, EvaluatorSettings } from "../src/eval/report/EvalReport.ts";
import { renderEvalReportCsv } from "../src/eval/report/renderEvalReportCsv.ts";
import type { EvalModelResult, ProblemResult } from "../src/eval/runGsm8kEvaluation.ts";

const PROBLEMS = [3, 9, 12, 40, 41, 77, 100, 1318];
const recipe = (weight: number): MergeRecipe => ({
  target: "org/target",
  method: "task_arithmetic",
  parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
  vectors: [{ plus: "org/plus", minus: "org/minus", weight }],
  vocab: "exact",
});
const models: EvalModelDescription[] = [
  { id: "target", label: "target", kind: "target", alpha: null, control: null, recipe: null },
  { id: "a1", label: 'alpha 1, "best"', kind: "merged", alpha: 1, control: null, recipe: recipe(1) },
  { id: "rev", label: "reversed (alpha -1)", kind: "merged", alpha: -1, control: "reversed", recipe: recipe(-1) },
];
const T = true;
const F = false;
const answers = (correct: boolean[]): ProblemResult[] =>
  correct.map((right, position) => ({
    problemIndex: PROBLEMS[position]!,
    output: right ? `so \\boxed{${position}}` : "no number",
    scores: [{ extracted: right ? String(position) : null, correct: right }],
    correct: right,
    newTokens: 10 + position,
    stopReason: right ? "eos" : "max_new_tokens",
    decodeTokensPerSecond: 5,
  }));
const run = (seconds: number) => ({ batchSize: 4, loadSeconds: 1.5, seconds, prefillSeconds: 0.5, decodeSeconds: seconds - 1, newTokens: 100, tokensPerSecond: 100 / seconds });
// target 3/8; alpha 1 right everywhere: 5 fixed, 0 broken; reversed wrong everywhere: 0 fixed, 3 broken.
const results: EvalModelResult[] = [
  { id: "target", answers: answers([F, F, F, F, F, T, T, T]), run: run(4) },
  { id: "a1", answers: answers([T, T, T, T, T, T, T, T]), run: run(5) },
  { id: "rev", answers: answers([F, F, F, F, F, F, F, F]), run: run(8) },
];
const evaluator: EvaluatorSettings = { version: "1.2.3", runtime: "onnxruntime-node", format: "q8", batchSize: 4, maxNewTokens: 256, greedy: true, chatTemplate: true };
const task: EvaluatedTask = {
  name: "zero-shot-boxed",
  promptFormat: "Zero-shot, boxed",
  fewShot: 0,
  dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" },
  problemIndices: PROBLEMS,
  sampleSeed: 2509,
  metrics: ["exact-match"],
};
const finishedAt = new Date("2026-12-01T04:00:00Z");

describe("buildEvalReport", () => {
  const report = buildEvalReport({ finishedAt, evaluator, task, models, results });

  it("lists every model with its scores, Wilson interval, comparison with the target and Holm p worked out by hand", () => {
    expect(report).toMatchObject({ schema: "merge-studio-eval/1", createdAt: "2026-12-01T04:00:00.000Z", evaluator, task });
    expect(report.models.map((model) => [model.label, model.kind, model.alpha, model.control])).toEqual([
      ["target", "target", null, null],
      ['alpha 1, "best"', "merged", 1, null],
      ["reversed (alpha -1)", "merged", -1, "reversed"],
    ]);
    // Wilson 95% of 3/8, 8/8 and 0/8, from the roots of (n + z^2) p^2 - (2x + z^2) p + x^2/n = 0.
    const expected = [
      [3, 0.375, 0.136844285824, 0.694257605397],
      [8, 1, 0.675592435116, 1],
      [0, 0, 0, 0.324407564884],
    ];
    report.models.forEach((model, position) => {
      const [correct, accuracy, low, high] = expected[position]!;
      expect(model.scores).toHaveLength(1);
      expect(model.scores[0]).toMatchObject({ metric: "exact-match", correct, total: 8, accuracy });
      expect(model.scores[0]!.low).toBeCloseTo(low!, 10);
      expect(model.scores[0]!.high).toBeCloseTo(high!, 10);
    });
    // Exact McNemar: 5 vs 0 discordant: 2 / 2^5 = 0.0625; 0 vs 3: 2 / 2^3 = 0.25. Holm over both: 2 * 0.0625 = 0.125, then max(0.125, 0.25).
    expect(report.models[0]!.comparison).toBeNull();
    const [, alphaOne, reversed] = report.models;
    expect(alphaOne!.comparison).toMatchObject({ fixed: 5, broken: 0 });
    expect(alphaOne!.comparison!.pValue).toBeCloseTo(0.0625, 14);
    expect(alphaOne!.comparison!.holmPValue).toBeCloseTo(0.125, 14);
    expect(reversed!.comparison).toMatchObject({ fixed: 0, broken: 3 });
    expect(reversed!.comparison!.pValue).toBeCloseTo(0.25, 14);
    expect(reversed!.comparison!.holmPValue).toBeCloseTo(0.25, 14);
  });

  it("records each merged model's canonical recipe, its run figures and every answer with what was extracted", () => {
    const [target, alphaOne] = report.models;
    expect(target!.recipe).toBeNull();
    expect(alphaOne!.recipe).toEqual({
      target: "org/target",
      method: "task_arithmetic",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [{ plus: "org/plus", minus: "org/minus", weight: 1 }],
      vocab: "exact",
    });
    expect(alphaOne!.run).toEqual({ loadSeconds: 1.5, answerSeconds: 5, newTokens: 100, tokensPerSecond: 20 });
    expect(target!.answers[0]).toEqual({ problemIndex: 3, output: "no number", newTokens: 10, stopReason: "max_new_tokens", scores: [{ extracted: null, correct: false }] });
    expect(target!.answers[7]).toEqual({ problemIndex: 1318, output: "so \\boxed{7}", newTokens: 17, stopReason: "eos", scores: [{ extracted: "7", correct: true }] });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it("scores every metric of the task, the comparison on the primary one", () => {
    // A second metric that finds every answer right: 8/8 for each model, Wilson 95% [0.675592435116, 1].
    const twoMetrics = results.map((result) => ({ ...result, answers: result.answers.map((answer) => ({ ...answer, scores: [...answer.scores, { extracted: "x", correct: true }] })) }));
    const report = buildEvalReport({ finishedAt, evaluator, task: { ...task, metrics: ["strict-match", "flexible-extract"] }, models, results: twoMetrics });
    for (const [position, model] of report.models.entries()) {
      expect(model.scores.map(({ metric, correct, total }) => [metric, correct, total])).toEqual([
        ["strict-match", [3, 8, 0][position], 8],
        ["flexible-extract", 8, 8],
      ]);
      expect(model.scores[1]!.low).toBeCloseTo(0.675592435116, 10);
      expect(model.answers[0]!.scores).toHaveLength(2);
    }
    expect(report.models[2]!.comparison).toMatchObject({ fixed: 0, broken: 3 });
  });

  it("refuses an unfinished run: a model without results, answers to other problems, several targets, a score missing for a metric", () => {
    expect(() => buildEvalReport({ finishedAt, evaluator, task, models, results: results.slice(0, 2) })).toThrow('no results for the model "reversed (alpha -1)" (id rev): the run did not finish');
    const cut = results.map((result) => (result.id === "a1" ? { ...result, answers: result.answers.slice(0, 5) } : result));
    expect(() => buildEvalReport({ finishedAt, evaluator, task, models, results: cut })).toThrow(`the model "alpha 1, "best"" answered 5 problems, not the task's 8 in order: the run did not finish`);
    const twoTargets = [models[0]!, { ...models[1]!, kind: "target" as const }];
    expect(() => buildEvalReport({ finishedAt, evaluator, task, models: twoTargets, results })).toThrow("a run compares with one target; this one has 2");
    expect(() => buildEvalReport({ finishedAt, evaluator, task: { ...task, metrics: ["strict-match", "flexible-extract"] }, models, results })).toThrow(
      'the model "target" has 1 scores for problem 3, not one per metric (strict-match, flexible-extract)',
    );
  });
});

describe("renderEvalReportCsv", () => {
  it("writes one row per model and metric, RFC 4180 quoted, with CRLF line ends and empty fields for missing values", () => {
    const report = buildEvalReport({ finishedAt, evaluator, task, models, results });
    const [target, alphaOne, reversed] = report.models.map((model) => model.scores[0]!);
    const csv = renderEvalReportCsv(report);
    expect(csv).toBe(
      "label,kind,alpha,control,metric,correct,total,accuracy,low,high,fixed,broken,p,holm p\r\n" +
        `target,target,,,exact-match,3,8,0.375,${target!.low},${target!.high},,,,\r\n` +
        `"alpha 1, ""best""",merged,1,,exact-match,8,8,1,${alphaOne!.low},1,5,0,${report.models[1]!.comparison!.pValue},${report.models[1]!.comparison!.holmPValue}\r\n` +
        `reversed (alpha -1),merged,-1,reversed,exact-match,0,8,0,0,${reversed!.high},0,3,${report.models[2]!.comparison!.pValue},${report.models[2]!.comparison!.holmPValue}\r\n`,
    );
    // The numbers are the report's own, written in full: read back, they are equal.
    const rows = csv.trimEnd().split("\r\n");
    expect(rows).toHaveLength(4);
    expect(Number(rows[1]!.split(",")[8])).toBe(target!.low);
  });

  it("quotes fields holding a line break", () => {
    const report = buildEvalReport({ finishedAt, evaluator, task, models: [{ ...models[0]!, label: "target\nline two" }], results: results.slice(0, 1) });
    expect(renderEvalReportCsv(report).split("\r\n")[1]).toBe(`"target\nline two",target,,,exact-match,3,8,0.375,${report.models[0]!.scores[0]!.low},${report.models[0]!.scores[0]!.high},,,,`);
  });
});
