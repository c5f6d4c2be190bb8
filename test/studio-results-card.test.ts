import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { MergePlan } from "../src/core/plan/planMerge.ts";
import type { MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { buildEvalReport } from "../src/eval/report/buildEvalReport.ts";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import type { EvaluatedTask } from "../src/eval/report/EvalReport.ts";
import type { ProblemResult } from "../src/eval/runGsm8kEvaluation.ts";
import { EVAL_REPORT_FILE_NAME, recordedMergeFiles } from "../src/ui/merge/recordedMergeFiles.ts";
import { describeMergeEvaluation, mergeEvaluation, STUDIO_REPORT_SOURCE } from "../src/ui/state/mergeEvaluation.ts";
import { localFolderSpecs } from "../src/ui/state/modelInput.ts";
import { pinnedRequestParts } from "../src/ui/state/pinnedRequestParts.ts";
import { planSweepModels } from "../src/ui/state/sweepModels.ts";
import { sliderRecipe } from "./helpers/sliderRecipe.ts";

/*
 * Which evaluation a saved merge carries: a run's merged model matches the merge only when its
 * recipe is the merge's, Hub commits included. The merge's merge_recipe.json and card are written
 * here by hand as a merge writes them (recipe-v2.md's canonical fields, then the record).
 */

const SHA = { target: "a".repeat(40), plus: "b".repeat(40), minus: "c".repeat(40) };
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

const pinnedSliderRecipe = (alpha: number): MergeRecipe => ({
  ...sliderRecipe(alpha),
  target: `demo/T@${SHA.target}`,
  vectors: [{ plus: `demo/P@${SHA.plus}`, minus: `demo/M@${SHA.minus}`, weight: alpha }],
});

/** The inspected models' sources, which is all of a plan that pinning reads. */
const plan = {
  models: {
    target: { source: { repoId: "demo/T", revision: SHA.target } },
    vectors: [{ plus: { source: { repoId: "demo/P", revision: SHA.plus } }, minus: { source: { repoId: "demo/M", revision: SHA.minus } } }],
  },
} as unknown as MergePlan;

const README = "---\nbase_model:\n- demo/T\ntags:\n- merge\n---\n# merged\n\nA merge.\n\n## mergekit\n\n```yaml\nmerge_method: linear\n```\n";

/** merge_recipe.json of the merge at weight `alpha`, written out by hand in the canonical field order. */
function mergeRecipeJson(alpha: number): string {
  return `${JSON.stringify(
    {
      target: `demo/T@${SHA.target}`,
      method: "task_arithmetic",
      parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
      vectors: [{ plus: `demo/P@${SHA.plus}`, minus: `demo/M@${SHA.minus}`, weight: alpha }],
      vocab: "exact",
      tool: { name: "merge-studio", version: "0.0.0" },
      created_at: "2026-12-01T00:00:00.000Z",
      files: { "README.md": { size: README.length, sha256: sha256(README) }, "model.safetensors": { size: 8, sha256: "d".repeat(64) } },
    },
    null,
    2,
  )}\n`;
}

const TASK: EvaluatedTask = {
  name: "gsm8k_cot",
  promptFormat: "8-shot Q/A chain of thought (lm-eval gsm8k_cot)",
  fewShot: 8,
  dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" },
  problemIndices: [3, 17, 101],
  sampleSeed: 2509,
  metrics: ["strict-match", "flexible-extract"],
};

/** An answer right on both metrics when `right`. */
const answer = (problemIndex: number, right: boolean): ProblemResult => ({
  problemIndex,
  output: right ? "The answer is 5." : "no idea",
  scores: [
    { extracted: right ? "5" : null, correct: right },
    { extracted: right ? "5" : null, correct: right },
  ],
  correct: right,
  newTokens: 4,
  stopReason: "eos",
  decodeTokensPerSecond: 10,
});

/**
 * The report of a finished studio run on `recipe` (as studioEvalReport builds it): the target right
 * on the first problem, every merged model on the first two.
 */
function finishedRun(recipe: MergeRecipe, alphas: number[]): EvalReport {
  const models = planSweepModels(recipe, { models: { target: true, merged: true, plus: false, minus: false }, alphas, reversed: false, randomSign: false, controlAlpha: 1, controlSeed: 0 });
  const right = (id: string) => (id === "target" ? [true, false, false] : [true, true, false]);
  const run = { batchSize: 2, loadSeconds: 1, seconds: 2, prefillSeconds: 0.5, decodeSeconds: 1, newTokens: 12, tokensPerSecond: 6 };
  return buildEvalReport({
    finishedAt: new Date("2026-12-01T01:00:00Z"),
    evaluator: { version: "0.0.0", runtime: "onnxruntime-web wasm", format: "q8", batchSize: 2, maxNewTokens: 16, greedy: true, chatTemplate: true },
    task: TASK,
    models,
    results: models.map((model) => ({ id: model.id, answers: TASK.problemIndices.map((index, i) => answer(index, right(model.id)[i]!)), run })),
  });
}

describe("pinnedRequestParts", () => {
  it("names every Hub model by its inspected commit and keys its input by that name, opening exactly that commit", () => {
    const folder = { kind: "files" as const, label: "local", files: [] };
    const parts = pinnedRequestParts(
      { recipe: sliderRecipe(1), inputs: { "demo/T": { kind: "hub", repo: "demo/T" }, "demo/P": { kind: "hub", repo: "demo/P" }, "demo/M": { kind: "hub", repo: "demo/M" } } },
      plan,
    );
    expect(parts.recipe).toEqual(pinnedSliderRecipe(1));
    expect(parts.inputs).toEqual({
      [`demo/T@${SHA.target}`]: { kind: "hub", repo: "demo/T", revision: SHA.target },
      [`demo/P@${SHA.plus}`]: { kind: "hub", repo: "demo/P", revision: SHA.plus },
      [`demo/M@${SHA.minus}`]: { kind: "hub", repo: "demo/M", revision: SHA.minus },
    });
    const withFolder = pinnedRequestParts(
      { recipe: { ...sliderRecipe(1), target: "local" }, inputs: { local: folder, "demo/P": { kind: "hub", repo: "demo/P" }, "demo/M": { kind: "hub", repo: "demo/M" } } },
      { ...plan, models: { ...plan.models, target: { source: {} } } } as unknown as MergePlan,
    );
    expect(withFolder.recipe.target).toBe("local");
    expect(withFolder.inputs.local).toBe(folder);
  });
});

describe("mergeEvaluation", () => {
  it("finds the run's merged model of exactly the merge's recipe, and says what the card will include", () => {
    const evaluation = mergeEvaluation(mergeRecipeJson(1), finishedRun(pinnedSliderRecipe(1), []));
    expect(evaluation.kind).toBe("included");
    if (evaluation.kind !== "included") return;
    expect(evaluation.evaluated.merge.label).toBe("alpha 1");
    expect(evaluation.evaluated.target?.label).toBe("target");
    expect(describeMergeEvaluation(evaluation)).toBe("Includes GSM8K results: gsm8k_cot, n = 3");
  });

  it("finds the merge's alpha inside a sweep, whatever the slider said when the sweep ran", () => {
    const evaluation = mergeEvaluation(mergeRecipeJson(0.5), finishedRun(pinnedSliderRecipe(2), [-1, 0.5, 1]));
    expect(evaluation.kind === "included" && evaluation.evaluated.merge.label).toBe("alpha 0.5");
  });

  it("says the merge itself was not evaluated when the run evaluated other alphas only", () => {
    const evaluation = mergeEvaluation(mergeRecipeJson(1), finishedRun(pinnedSliderRecipe(1), [0.5, 1.5]));
    expect(evaluation).toEqual({ kind: "not-evaluated", evaluated: ["alpha 0.5", "alpha 1.5"] });
    expect(describeMergeEvaluation(evaluation)).toBe(
      "This merge itself was not evaluated (the last run evaluated alpha 0.5, alpha 1.5): evaluate it to add its results to the model card.",
    );
  });

  it("does not match a run on other commits of the same repos (or unpinned ones)", () => {
    expect(mergeEvaluation(mergeRecipeJson(1), finishedRun(sliderRecipe(1), [])).kind).toBe("not-evaluated");
    const otherTarget = { ...pinnedSliderRecipe(1), target: `demo/T@${"e".repeat(40)}` };
    expect(mergeEvaluation(mergeRecipeJson(1), finishedRun(otherTarget, [])).kind).toBe("not-evaluated");
  });

  it("without a finished run asks for an evaluation", () => {
    expect(mergeEvaluation(mergeRecipeJson(1), null)).toEqual({ kind: "none" });
    expect(describeMergeEvaluation({ kind: "none" })).toBe("Evaluate this merge to add its results to the model card.");
  });
});

describe("recordedMergeFiles", () => {
  it("gives the card with model-index, the record naming the new card's and the report's SHA-256, and the report", async () => {
    const evaluation = mergeEvaluation(mergeRecipeJson(1), finishedRun(pinnedSliderRecipe(1), []));
    if (evaluation.kind !== "included") throw new Error("expected the merge to be evaluated");
    const files = await recordedMergeFiles({ readme: README, recipeJson: mergeRecipeJson(1) }, evaluation.report, { modelName: "merged", reportSource: STUDIO_REPORT_SOURCE });
    const readme = files["README.md"]!;
    const record = JSON.parse(new TextDecoder().decode(files["merge_recipe.json"])) as {
      files: Record<string, { size: number; sha256: string }>;
      evaluation: Record<string, { report_sha256: string; merge: { scores: { metric: string; correct: number; total: number }[] } }>;
    };
    expect(record.files["README.md"]).toEqual({ size: readme.byteLength, sha256: sha256(readme) });
    expect(record.files["model.safetensors"]).toEqual({ size: 8, sha256: "d".repeat(64) });
    expect(record.evaluation.gsm8k_cot!.report_sha256).toBe(sha256(files[EVAL_REPORT_FILE_NAME]!));
    expect(record.evaluation.gsm8k_cot!.merge.scores[0]).toMatchObject({ metric: "strict-match", correct: 2, total: 3 });

    const report = JSON.parse(new TextDecoder().decode(files[EVAL_REPORT_FILE_NAME])) as EvalReport;
    expect(report.models.map((model) => model.label)).toEqual(["target", "alpha 1"]);
    const text = new TextDecoder().decode(readme);
    const front = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(text)![1]!) as { base_model: string[]; "model-index": { name: string; results: { metrics: { type: string; value: number }[] }[] }[] };
    expect(front.base_model).toEqual(["demo/T"]);
    expect(front["model-index"][0]!.name).toBe("merged");
    expect(front["model-index"][0]!.results[0]!.metrics.map((metric) => metric.value)).toEqual([0.6667, 0.6667]);

  });
});

describe("localFolderSpecs (the GPU job's note on models known by folder name only)", () => {
  it("lists the spec of each model picked from disk, as the recipe names it, and no Hub repo", () => {
    const folder = (label: string) => ({ kind: "files" as const, label, files: [] });
    const inputs = { "org/target@abc": { kind: "hub" as const, repo: "org/target", revision: "abc" }, grpo: folder("grpo"), sft: folder("sft"), "grpo (2)": folder("grpo") };
    expect(localFolderSpecs(inputs)).toEqual(["grpo", "sft", "grpo (2)"]);
    expect(localFolderSpecs({ "org/a": { kind: "hub", repo: "org/a" } })).toEqual([]);
  });
});
