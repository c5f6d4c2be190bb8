import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseRecipeJson } from "../src/core/recipe/parseRecipeJson.ts";
import { readEvalReport } from "../src/eval/report/readEvalReport.ts";
import { recordEvaluation } from "../src/eval/report/recordEvaluation.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

/*
 * `merge-studio record` on a real merged folder (made by the CLI here) with hand-made reports: the
 * card's front matter must be what the Hub's model-card parser accepts, checked against the spec
 * as written in huggingface/hub-docs modelcard.md and read by huggingface_hub's
 * model_index_to_eval_results (required: name, results, task.type, dataset.type, dataset.name,
 * metrics[].type, metrics[].value; source needs a url), independently of the renderer.
 */

let root: string;
let out: string;
const models = { target: "", plus: "", minus: "" };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "card-record-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of ["target", "plus", "minus"] as const) {
    models[role] = join(root, role);
    await generateQwen2Model({ dir: models[role], shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 7, variantSeed: variants[role] });
  }
  out = join(root, "merged-half");
  const merged = await runCli(["merge", "--target", models.target, "--plus", models.plus, "--minus", models.minus, "--alpha", "0.5", "--out", out]);
  expect(merged.code, merged.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The canonical recipe of target + weight * (plus - minus), written out by hand from recipe-v2.md. */
const recipeAt = (weight: number) => ({
  target: models.target,
  method: "task_arithmetic",
  parameters: { normalize: false, rescale: true, seed: 0, density: 1, gamma: 0.01 },
  vectors: [{ plus: models.plus, minus: models.minus, weight }],
  vocab: "exact",
});

const PROBLEMS = [4, 17, 230, 1001];
const METRICS = ["strict-match", "flexible-extract"];

/** Wilson 95% interval, from its formula. */
function wilson(correct: number, total: number): { low: number; high: number } {
  const z = 1.959963984540054;
  const p = correct / total;
  const centre = (p + (z * z) / (2 * total)) / (1 + (z * z) / total);
  const half = ((z / (1 + (z * z) / total)) * Math.sqrt((p * (1 - p)) / total + (z * z) / (4 * total * total)));
  return { low: centre - half, high: centre + half };
}

/** A report model whose answers are right where `right[metric][problem]` is 1. */
function model(label: string, kind: string, alpha: number | null, recipe: unknown, right: string[], comparison: unknown) {
  return {
    label,
    kind,
    alpha,
    control: null,
    recipe,
    scores: METRICS.map((metric, m) => {
      const correct = [...right[m]!].filter((bit) => bit === "1").length;
      return { metric, correct, total: PROBLEMS.length, accuracy: correct / PROBLEMS.length, ...wilson(correct, PROBLEMS.length) };
    }),
    comparison,
    run: { loadSeconds: 1.5, answerSeconds: 3, newTokens: 40, tokensPerSecond: 13.3 },
    answers: PROBLEMS.map((problemIndex, i) => ({
      problemIndex,
      output: `The answer is ${i}.`,
      newTokens: 10,
      stopReason: "eos",
      scores: METRICS.map((_, m) => ({ extracted: String(i), correct: right[m]![i] === "1" })),
    })),
  };
}

function report(merged: ReturnType<typeof model>[]) {
  return {
    schema: "merge-studio-eval/1",
    createdAt: "2026-11-30T12:00:00.000Z",
    evaluator: { version: "0.1.0", runtime: "onnxruntime-node", format: "q8", batchSize: 4, maxNewTokens: 256, greedy: true, chatTemplate: true },
    task: {
      name: "gsm8k",
      promptFormat: "5-shot Question/Answer (lm-eval gsm8k)",
      fewShot: 5,
      dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" },
      problemIndices: PROBLEMS,
      sampleSeed: 2509,
      metrics: METRICS,
    },
    models: [model("target", "target", null, null, ["0101", "0111"], null), ...merged],
  };
}

const halfModel = () => model("alpha 0.5", "merged", 0.5, recipeAt(0.5), ["1101", "1111"], { fixed: 2, broken: 1, pValue: 1, holmPValue: 1 });
const oneModel = () => model("alpha 1", "merged", 1, recipeAt(1), ["0000", "1000"], { fixed: 0, broken: 2, pValue: 0.5, holmPValue: 0.5 });

async function writeReport(name: string, value: unknown): Promise<{ path: string; sha256: string }> {
  const path = join(root, name);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  await writeFile(path, text);
  return { path, sha256: createHash("sha256").update(text).digest("hex") };
}

function frontMatter(readme: string): Record<string, unknown> {
  const match = /^---\n([\s\S]*?)\n---\n/.exec(readme);
  expect(match, "the card starts with YAML front matter").not.toBeNull();
  return parseYaml(match![1]!) as Record<string, unknown>;
}

/** Every problem with a model-index, as the spec and huggingface_hub's reader define it; [] when it is well-formed. */
function modelIndexProblems(modelIndex: unknown): string[] {
  const problems: string[] = [];
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
  const check = (value: unknown, path: string, required: Record<string, string>, optional: Record<string, string>) => {
    if (!isObject(value)) return problems.push(`${path}: not a mapping`), {};
    for (const [key, type] of Object.entries({ ...required, ...optional })) {
      const entry = value[key];
      if (entry === undefined) {
        if (key in required) problems.push(`${path}.${key}: missing`);
        continue;
      }
      const ok = type === "list" ? Array.isArray(entry) : type === "mapping" ? isObject(entry) : type === "number|string" ? typeof entry === "number" || typeof entry === "string" : typeof entry === type;
      if (!ok) problems.push(`${path}.${key}: not a ${type}`);
    }
    for (const key of Object.keys(value)) if (!(key in required) && !(key in optional)) problems.push(`${path}.${key}: not in the spec`);
    return value;
  };
  if (!Array.isArray(modelIndex) || modelIndex.length === 0) return ["model-index: not a non-empty list"];
  modelIndex.forEach((entry, e) => {
    const { results } = check(entry, `model-index[${e}]`, { name: "string", results: "list" }, {});
    (Array.isArray(results) ? results : []).forEach((result, r) => {
      const path = `model-index[${e}].results[${r}]`;
      const { task, dataset, metrics, source } = check(result, path, { task: "mapping", dataset: "mapping", metrics: "list" }, { source: "mapping" });
      check(task, `${path}.task`, { type: "string" }, { name: "string" });
      check(dataset, `${path}.dataset`, { type: "string", name: "string" }, { config: "string", split: "string", revision: "string", args: "mapping" });
      if (source !== undefined) check(source, `${path}.source`, { url: "string" }, { name: "string" });
      if (!Array.isArray(metrics) || metrics.length === 0) problems.push(`${path}.metrics: empty`);
      (Array.isArray(metrics) ? metrics : []).forEach((metric, m) => {
        check(metric, `${path}.metrics[${m}]`, { type: "string", value: "number|string" }, { name: "string", config: "string", args: "mapping", verified: "boolean" });
      });
    });
  });
  return problems;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("merge-studio record", () => {
  it("writes model-index, the table and the evaluation record for the report's model of this merge's recipe", async () => {
    const { path, sha256: reportSha } = await writeReport("report.json", report([halfModel(), oneModel()]));
    const before = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8")) as Record<string, unknown>;
    const result = await runCli(["record", "--out", out, "--report", path, "--source-url", "https://example.org/runs/1"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("this merge (alpha 0.5): strict-match 75.0% (3/4)");

    const readme = await readFile(join(out, "README.md"), "utf8");
    const meta = frontMatter(readme);
    expect(meta.base_model).toEqual([models.target, models.plus, models.minus]);
    expect(meta.tags).toContain("merge-studio");
    expect(modelIndexProblems(meta["model-index"])).toEqual([]);
    const [entry] = meta["model-index"] as { name: string; results: Record<string, unknown>[] }[];
    expect(entry!.name).toBe("merged-half");
    expect(entry!.results).toHaveLength(1);
    const [result0] = entry!.results as { task: unknown; dataset: Record<string, unknown>; metrics: Record<string, unknown>[]; source: unknown }[];
    expect(result0!.task).toEqual({ type: "text-generation", name: "Text Generation" });
    expect(result0!.dataset).toMatchObject({ type: "openai/gsm8k", config: "main", split: "test" });
    expect(result0!.dataset.args).toMatchObject({ num_few_shot: 5, problems: 4, sample_seed: 2509, prompt_format: "5-shot Question/Answer (lm-eval gsm8k)", chat_template: true, max_new_tokens: 256 });
    expect(result0!.source).toEqual({ url: "https://example.org/runs/1", name: "merge-studio 0.1.0 (onnxruntime-node, q8)" });
    // alpha 0.5: strict 3/4, flexible 4/4; never the target's or alpha 1's numbers, and self-reported.
    expect(result0!.metrics.map((metric) => [metric.type, metric.value, metric.verified, (metric.args as { filter: string; correct: number; total: number }).correct])).toEqual([
      ["exact_match", 0.75, false, 3],
      ["exact_match", 1, false, 4],
    ]);

    const strictHalf = wilson(3, 4);
    const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
    expect(readme).toContain("## Evaluation: target vs this merge (gsm8k)");
    expect(readme).toContain(`| target (target) | strict-match | 50.0% | ${pct(wilson(2, 4).low)} – ${pct(wilson(2, 4).high)} | 2/4 |  |  |  |  |`);
    expect(readme).toContain(`| this merge (alpha 0.5) | strict-match | 75.0% | ${pct(strictHalf.low)} – ${pct(strictHalf.high)} | 3/4 | 2 | 1 | 1.000 | 1.000 |`);
    expect(readme).toContain("| this merge (alpha 0.5) | flexible-extract | 100.0% |");
    expect(readme).not.toContain("alpha 1)");
    expect(readme).toContain("random sample drawn with seed 2509");
    expect(readme.indexOf("## Evaluation")).toBeLessThan(readme.indexOf("## mergekit"));

    const after = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8")) as Record<string, unknown> & { files: Record<string, { size: number; sha256: string }>; evaluation: Record<string, Record<string, unknown>> };
    const readmeBytes = await readFile(join(out, "README.md"));
    expect(after.files["README.md"]).toEqual({ size: readmeBytes.byteLength, sha256: sha256(readmeBytes) });
    expect({ ...after.files, "README.md": undefined }).toEqual({ ...(before.files as object), "README.md": undefined });
    expect(Object.keys(after.evaluation)).toEqual(["gsm8k"]);
    expect(after.evaluation.gsm8k).toMatchObject({
      schema: "merge-studio-eval/1",
      report_sha256: reportSha,
      evaluator: { version: "0.1.0", runtime: "onnxruntime-node", format: "q8", batch_size: 4, max_new_tokens: 256, greedy: true, chat_template: true },
      task: { name: "gsm8k", few_shot: 5, problem_indices: PROBLEMS, sample_seed: 2509, metrics: METRICS },
      merge: { label: "alpha 0.5", alpha: 0.5, correct: { "strict-match": "1101", "flexible-extract": "1111" }, comparison: { fixed: 2, broken: 1, p_value: 1, holm_p_value: 1 } },
      target: { label: "target", correct: { "strict-match": "0101", "flexible-extract": "0111" } },
    });
    expect(JSON.stringify(after.evaluation)).not.toContain("The answer is");
    // The recipe still reads back, the evaluation skipped: `merge --config OUT/merge_recipe.json` merges it again.
    const again = parseRecipeJson(await readFile(join(out, "merge_recipe.json"), "utf8"), "merge_recipe.json");
    expect(again.vectors[0]!.weight).toBe(0.5);
  }, 60_000);

  it("recording again replaces the previous evaluation, in the card and the record", async () => {
    const second = model("alpha 0.5", "merged", 0.5, recipeAt(0.5), ["0001", "0011"], { fixed: 0, broken: 1, pValue: 1, holmPValue: 1 });
    const { path, sha256: reportSha } = await writeReport("report-2.json", report([second]));
    const result = await runCli(["record", "--out", out, "--report", path, "--name", "lab/merged-half"]);
    expect(result.code, result.stderr).toBe(0);
    const readme = await readFile(join(out, "README.md"), "utf8");
    expect(readme.split("## Evaluation: target vs this merge")).toHaveLength(2);
    expect(readme.split("<!-- merge-studio: evaluation gsm8k -->")).toHaveLength(2);
    expect(readme).toContain("| this merge (alpha 0.5) | strict-match | 25.0% |");
    const meta = frontMatter(readme);
    expect(modelIndexProblems(meta["model-index"])).toEqual([]);
    const [entry] = meta["model-index"] as { name: string; results: { metrics: { value: number }[]; source?: unknown }[] }[];
    expect(entry!.name).toBe("lab/merged-half");
    expect(entry!.results[0]!.metrics.map((metric) => metric.value)).toEqual([0.25, 0.5]);
    expect(entry!.results[0]!.source).toBeUndefined();
    const record = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8")) as { evaluation: Record<string, { report_sha256: string }> };
    expect(Object.keys(record.evaluation)).toEqual(["gsm8k"]);
    expect(record.evaluation.gsm8k!.report_sha256).toBe(reportSha);
  }, 60_000);

  it("refuses a report that did not evaluate this merge's recipe, and leaves the folder as it was", async () => {
    const cardBefore = await readFile(join(out, "README.md"));
    const { path } = await writeReport("other.json", report([oneModel()]));
    const result = await runCli(["record", "--out", out, "--report", path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/holds no evaluation of this merge's recipe .*"alpha 1" differs in vectors/);
    expect(await readFile(join(out, "README.md"))).toEqual(cardBefore);
  }, 60_000);

  it("refuses a report that is not one, naming the field", async () => {
    const broken = report([halfModel()]) as { models: { scores: { correct: number }[] }[] };
    broken.models[1]!.scores[0]!.correct = 4;
    const { path } = await writeReport("broken.json", broken);
    const result = await runCli(["record", "--out", out, "--report", path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("models[1].scores[0].correct: 4, but 3 of the answers are right on strict-match");
  }, 60_000);

  it("refuses a folder that is not a finished merge", async () => {
    const { path } = await writeReport("half.json", report([halfModel()]));
    const copy = async (name: string) => {
      const dir = join(root, name);
      await cp(out, dir, { recursive: true });
      return dir;
    };
    const empty = join(root, "empty");
    await mkdir(empty);
    const noShard = await copy("no-shard");
    await unlink(join(noShard, "model.safetensors"));
    const journal = await copy("journal");
    await writeFile(join(journal, "merge-journal.json"), "{}");
    const noRecipe = await copy("no-recipe");
    await unlink(join(noRecipe, "merge_recipe.json"));
    const cases: [string, RegExp][] = [
      [join(root, "absent"), /is not a folder/],
      [empty, /has no merge_recipe\.json, so it is not a finished merge/],
      [noRecipe, /has no merge_recipe\.json/],
      [noShard, /lacks "model\.safetensors", which the merge wrote/],
      [journal, /holds merge-journal\.json: the merge there is unfinished/],
    ];
    for (const [dir, message] of cases) {
      const result = await runCli(["record", "--out", dir, "--report", path]);
      expect(result.code, dir).toBe(1);
      expect(result.stderr, dir).toMatch(message);
    }
  }, 120_000);
});

describe("recordEvaluation (what the studio calls when saving a merge with results)", () => {
  const evaluation = () => readEvalReport(JSON.stringify(report([halfModel()])), "the studio's evaluation");
  const options = { modelName: "studio-merge", reportSource: "the studio's evaluation" };

  it("keeps the front matter's other keys and comments, appends the section to a card without a mergekit section, and records the new card's SHA-256", async () => {
    const recipeJson = await readFile(join(out, "merge_recipe.json"), "utf8");
    const readme = "---\n# written by hand\nbase_model:\n- a/b\nlicense: mit\n---\n\n# My merge\n\nNotes.\n";
    const recorded = await recordEvaluation({ readme, recipeJson }, evaluation(), options);
    expect(recorded.readme.startsWith("---\n# written by hand\nbase_model:\n- a/b\nlicense: mit\nmodel-index:\n")).toBe(true);
    expect(recorded.readme).toContain("\n# My merge\n\nNotes.\n\n<!-- merge-studio: evaluation gsm8k -->\n## Evaluation: target vs this merge (gsm8k)\n");
    expect(recorded.readme.endsWith("<!-- /merge-studio: evaluation gsm8k -->\n")).toBe(true);
    const meta = frontMatter(recorded.readme);
    expect(meta.license).toBe("mit");
    expect(modelIndexProblems(meta["model-index"])).toEqual([]);
    const files = (JSON.parse(recorded.recipeJson) as { files: Record<string, unknown> }).files;
    expect(files["README.md"]).toEqual({ size: Buffer.byteLength(recorded.readme), sha256: sha256(Buffer.from(recorded.readme)) });
    expect(recorded.evaluated.merge.label).toBe("alpha 0.5");
  });

  it("refuses files that are not a merge's card and record", async () => {
    const recipeJson = await readFile(join(out, "merge_recipe.json"), "utf8");
    const card = await readFile(join(out, "README.md"), "utf8");
    const cases: [string, string, string][] = [
      ["# no front matter\n", recipeJson, "README.md: no YAML front matter"],
      ["---\nlicense: mit\n---\n", recipeJson, "README.md: its front matter has no base_model"],
      ["---\nbase_model: [a\n---\n", recipeJson, "README.md: its front matter is not valid YAML"],
      [card.replace("<!-- /merge-studio: evaluation gsm8k -->", ""), recipeJson, 'without its "<!-- /merge-studio: evaluation gsm8k -->"'],
      [card, JSON.stringify({ ...JSON.parse(recipeJson), files: undefined }), 'merge_recipe.json: no "files" record'],
    ];
    for (const [readme, recipe, message] of cases) {
      await expect(recordEvaluation({ readme, recipeJson: recipe }, evaluation(), options), message).rejects.toThrow(message);
    }
  });
});

describe("merge-studio record, a second task", () => {
  it("adds the task's result, section and record next to the first task's, which stay", async () => {
    const cot = report([halfModel()]) as ReturnType<typeof report> & { task: { name: string; fewShot: number; promptFormat: string } };
    cot.task = { ...cot.task, name: "gsm8k_cot", fewShot: 8, promptFormat: "8-shot Q/A (lm-eval gsm8k_cot)" };
    const { path } = await writeReport("report-cot.json", cot);
    const result = await runCli(["record", "--out", out, "--report", path]);
    expect(result.code, result.stderr).toBe(0);
    const readme = await readFile(join(out, "README.md"), "utf8");
    const gsm8k = readme.indexOf("## Evaluation: target vs this merge (gsm8k)\n");
    const cotAt = readme.indexOf("## Evaluation: target vs this merge (gsm8k_cot)\n");
    expect(gsm8k).toBeGreaterThan(0);
    expect(cotAt).toBeGreaterThan(gsm8k);
    expect(readme.indexOf("## mergekit")).toBeGreaterThan(cotAt);
    const meta = frontMatter(readme);
    expect(modelIndexProblems(meta["model-index"])).toEqual([]);
    const [entry] = meta["model-index"] as { results: { dataset: { args: { task: string; num_few_shot: number } } }[] }[];
    expect(entry!.results.map((result) => [result.dataset.args.task, result.dataset.args.num_few_shot])).toEqual([
      ["gsm8k", 5],
      ["gsm8k_cot", 8],
    ]);
    const record = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8")) as { evaluation: Record<string, { task: { few_shot: number } }> };
    expect(Object.entries(record.evaluation).map(([task, value]) => [task, value.task.few_shot])).toEqual([
      ["gsm8k", 5],
      ["gsm8k_cot", 8],
    ]);
  }, 60_000);
});

describe("merge-studio eval --json, then record", () => {
  it("records the report the evaluator wrote for the same recipe: its alpha 0.5 model is this merge", async () => {
    const trio = { target: join(root, "small-target"), plus: join(root, "small-plus"), minus: join(root, "small-minus") };
    for (const [role, variantSeed] of [["target", undefined], ["plus", 1], ["minus", 2]] as const) {
      await generateQwen2Model({ dir: trio[role], shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 3, variantSeed, noiseScale: 5, tokenizer: true });
    }
    const flags = ["--target", trio.target, "--plus", trio.plus, "--minus", trio.minus];
    const merged = join(root, "small-merged");
    const merge = await runCli(["merge", ...flags, "--alpha", "0.5", "--out", merged]);
    expect(merge.code, merge.stderr).toBe(0);
    const path = join(root, "eval-report.json");
    const evaluated = await runCli(["eval", ...flags, "--alphas", "0.5,1", "--task", "gsm8k_cot_zeroshot", "--n", "2", "--max-new-tokens", "2", "--json", path]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const recorded = await runCli(["record", "--out", merged, "--report", path]);
    expect(recorded.code, recorded.stderr).toBe(0);
    const meta = frontMatter(await readFile(join(merged, "README.md"), "utf8"));
    expect(modelIndexProblems(meta["model-index"])).toEqual([]);
    const written = JSON.parse(await readFile(path, "utf8")) as { models: { label: string; scores: { metric: string; accuracy: number }[] }[] };
    const half = written.models.find((entry) => entry.label === "alpha 0.5")!;
    const [entry] = meta["model-index"] as { results: { metrics: { name: string; value: number }[] }[] }[];
    expect(entry!.results[0]!.metrics.map((metric) => [metric.name, metric.value])).toEqual(half.scores.map((score) => [`${score.metric} accuracy`, expect.closeTo(score.accuracy, 4)]));
  }, 240_000);
});
