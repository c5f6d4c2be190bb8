import { createHash } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { TEMP_FOLDER_PREFIX } from "../src/eval/node/openDecoderFromTempFolder.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { referenceLogits, type ReferenceShape } from "./helpers/qwen2Reference.ts";
import { runCli } from "./helpers/runCli.ts";

const tiny = QWEN2_PRESETS.tiny;
const shape: ReferenceShape = {
  hiddenSize: tiny.hiddenSize,
  intermediateSize: tiny.intermediateSize,
  numLayers: tiny.numLayers,
  numHeads: tiny.numHeads,
  numKvHeads: tiny.numKvHeads,
  headDim: tiny.hiddenSize / tiny.numHeads,
  vocabSize: tiny.vocabSize,
  ropeTheta: tiny.ropeTheta,
  rmsNormEps: tiny.rmsNormEps,
  tieWordEmbeddings: tiny.tieWordEmbeddings,
};

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cli-eval-"));
  await generateQwen2Model({ dir: join(root, "tiny"), shape: tiny, dtype: "BF16", initSeed: 3 });
  await generateQwen2Model({ dir: join(root, "small"), shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 3, tokenizer: true });
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("merge-studio eval", () => {
  it("dumps the prompt's last logits and the greedy tokens of a float64 forward pass of the same weights", async () => {
    const ids = [5, 77, 300, 12, 498];
    const out = join(root, "dump.json");
    const result = await runCli(["eval", "--model", join(root, "tiny"), "--ids", ids.join(","), "--steps", "4", "--dump", out, "--format", "f32"]);
    expect(result.stderr).toContain("wrote");
    expect(result.code).toBe(0);
    const dump = JSON.parse(await readFile(out, "utf8")) as { logits: number[]; greedy_ids: number[] };

    const source = await openFolderSource(join(root, "tiny"));
    const load = modelTensorLoader(await inspectModel(source));
    const weights = new Map<string, Float64Array>();
    for (const name of (await inspectModel(source)).tensors.keys()) weights.set(name, Float64Array.from(await load(name)));
    await source.close?.();
    const lastRow = (sequence: number[]) => referenceLogits(shape, (name) => weights.get(name)!, sequence).slice((sequence.length - 1) * shape.vocabSize);
    const expected = lastRow(ids);
    const scale = Math.max(...expected.map(Math.abs));
    const worst = Math.max(...dump.logits.map((value, i) => Math.abs(value - expected[i]!)));
    expect(dump.logits).toHaveLength(shape.vocabSize);
    expect(worst / scale).toBeLessThan(1e-4);

    const greedy: number[] = [];
    for (let step = 0; step < 4; step++) {
      const row = lastRow([...ids, ...greedy]);
      greedy.push(row.indexOf(Math.max(...row)));
    }
    expect(dump.greedy_ids).toEqual(greedy);
  });

  it("evaluates problems picked by number and reports them with their gold answers, leaving no temporary model folder", async () => {
    const json = join(root, "report.json");
    const temp = await mkdtemp(join(root, "tmp-"));
    const result = await runCli(["eval", "--model", join(root, "small"), "--problems", "0,7", "--max-new-tokens", "3", "--json", json], { TMPDIR: temp });
    expect(result.stderr).not.toContain("error");
    expect(result.code).toBe(0);
    // tsx and others keep their own files there; the model's folder is gone.
    expect((await readdir(temp)).filter((name) => name.startsWith(TEMP_FOLDER_PREFIX))).toEqual([]);
    const lines = (await readFile(new URL("../public/data/gsm8k/test.jsonl", import.meta.url), "utf8")).split("\n");
    const gold = (index: number) => (JSON.parse(lines[index]!) as { answer: string }).answer.split("####")[1]!.trim();
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    expect(report.task).toMatchObject({ problemIndices: [0, 7], sampleSeed: null, dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" } });
    expect(report.models.map((model) => [model.label, model.kind, model.alpha, model.control, model.comparison])).toEqual([[join(root, "small"), "target", null, null, null]]);
    const [model] = report.models;
    expect(model!.answers.map((answer) => answer.problemIndex)).toEqual([0, 7]);
    for (const answer of model!.answers) expect(answer.newTokens).toBeLessThanOrEqual(3);
    const right = model!.answers.filter((answer) => answer.scores[0]!.correct).length;
    expect(model!.scores).toMatchObject([{ correct: right, total: 2 }]);
    expect(result.stdout).toMatch(new RegExp(`^#0\\s+${gold(0)}\\s`, "m"));
    expect(result.stdout).toContain(`${join(root, "small")}  ${right}/2 = `);
  });

  it("runs an lm-eval task (--task gsm8k_cot, --chat-template off) and reports its task and both metrics per answer", async () => {
    const json = join(root, "report-gsm8k-cot.json");
    const result = await runCli(["eval", "--model", join(root, "small"), "--task", "gsm8k_cot", "--chat-template", "off", "--problems", "7,0", "--max-new-tokens", "3", "--json", json]);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("gsm8k_cot: 2 items (7, 0), 8-shot chain of thought Q/A (lm-eval gsm8k_cot), chat template off, max 3 new tokens");
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    expect(report.task).toEqual({
      name: "gsm8k_cot",
      promptFormat: "8-shot chain of thought Q/A (lm-eval gsm8k_cot)",
      fewShot: 8,
      dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" },
      problemIndices: [7, 0],
      sampleSeed: null,
      metrics: ["strict-match", "flexible-extract"],
    });
    expect(report.evaluator).toMatchObject({ chatTemplate: false, maxNewTokens: 3 });
    const [model] = report.models;
    const lines = (await readFile(new URL("../public/data/gsm8k/test.jsonl", import.meta.url), "utf8")).split("\n");
    for (const answer of model!.answers) {
      const final = (JSON.parse(lines[answer.problemIndex]!) as { answer: string }).answer.split("####").at(-1)!.trim();
      // lm-eval's filters, written out here: the first "The answer is N." and the last number-like run.
      const strict = /The answer is (-?[0-9.,]+)./.exec(answer.output)?.[1] ?? null;
      const flexibleMatch = [...answer.output.matchAll(/(-?[$0-9.,]{2,})|(-?[0-9]+)/g)].at(-1);
      const flexible = flexibleMatch ? (flexibleMatch[1] ?? flexibleMatch[2])! : null;
      const same = (text: string | null) => text !== null && text.replace(/[,$]/g, "").replace(/\.$/, "") === final.replace(/,/g, "");
      expect(answer.scores).toEqual([
        { extracted: strict, correct: same(strict) },
        { extracted: flexible, correct: same(flexible) },
      ]);
    }
    const right = (metric: number) => model!.answers.filter((answer) => answer.scores[metric]!.correct).length;
    expect(model!.scores.map(({ metric, correct, total }) => [metric, correct, total])).toEqual([
      ["strict-match", right(0), 2],
      ["flexible-extract", right(1), 2],
    ]);
    expect(result.stdout).toMatch(new RegExp(`^${join(root, "small")}  ${right(0)}/2 = .*strict-match$`, "m"));
    expect(result.stdout).toMatch(new RegExp(`^${join(root, "small")}  ${right(1)}/2 = .*flexible-extract$`, "m"));
  }, 60_000);

  it("runs a custom JSONL set with --task PATH, and refuses one with bad lines, naming them, before loading a model", async () => {
    const good = join(root, "custom.jsonl");
    await writeFile(good, '{"prompt": "Say hi", "target": ".", "match": "regex"}\n\n{"prompt": "Say nothing", "target": "zzz-never"}\n');
    const json = join(root, "report-custom.json");
    const result = await runCli(["eval", "--model", join(root, "small"), "--task", good, "--max-new-tokens", "2", "--json", json]);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.code).toBe(0);
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    expect(report.task).toMatchObject({ name: "custom", problemIndices: [0, 2], metrics: ["target-match"], sampleSeed: null });
    expect(report.task.dataset).toEqual({ kind: "file", name: "custom.jsonl", sha256: createHash("sha256").update(await readFile(good)).digest("hex") });
    const answers = report.models[0]!.answers;
    expect(answers.map((answer) => answer.scores[0]!.correct)).toEqual([/./u.test(answers[0]!.output), false]);

    const bad = join(root, "bad.jsonl");
    await writeFile(bad, '{"question": "1 + 1?", "answer": 2}\n{"question": "no answer"}\nnot json\n');
    const refused = await runCli(["eval", "--model", join(root, "small"), "--task", bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('bad.jsonl: 2 bad lines, the set is refused: line 2: "answer" is missing; line 3: not JSON');
    expect(refused.stderr).not.toContain("reading and converting weights");
    const unknown = await runCli(["eval", "--model", join(root, "small"), "--task", "gsm9k"]);
    expect(unknown.stderr).toContain('--task must be one of gsm8k | gsm8k_cot | gsm8k_cot_zeroshot | zero-shot-boxed | think-step-by-step | eight-shot-cot | toy-reasoning | toy-own | PATH.jsonl | URL, got "gsm9k"');
  }, 60_000);

  it("runs lm-eval gsm8k with its examples drawn from the shipped train split", async () => {
    const json = join(root, "report-gsm8k.json");
    const result = await runCli(["eval", "--model", join(root, "small"), "--task", "gsm8k", "--problems", "5", "--max-new-tokens", "2", "--json", json]);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.code).toBe(0);
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    expect(report.task).toMatchObject({ name: "gsm8k", fewShot: 5, promptFormat: "5-shot Question/Answer (lm-eval gsm8k, train-split examples, seed 1234)", problemIndices: [5] });
    expect(report.task.metrics).toEqual(["strict-match", "flexible-extract"]);
    expect(report.evaluator).toMatchObject({ chatTemplate: true, maxNewTokens: 2 });
  }, 60_000);

  it("uses the chat template of chat_template.jinja, and warns and uses the plain prompt when a repo has none", async () => {
    const small = join(root, "small");
    const tokenizerConfig = JSON.parse(await readFile(join(small, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    const { chat_template: template, ...withoutTemplate } = tokenizerConfig;
    const variant = async (name: string, jinja: string | undefined) => {
      const dir = join(root, name);
      await cp(small, dir, { recursive: true });
      await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(withoutTemplate));
      if (jinja !== undefined) await writeFile(join(dir, "chat_template.jinja"), jinja);
      return dir;
    };
    const evaluate = async (dir: string) => {
      const json = join(dir, "report.json");
      const result = await runCli(["eval", "--model", dir, "--problems", "3,11", "--max-new-tokens", "4", "--json", json]);
      expect(result.stderr).not.toMatch(/^error/m);
      expect(result.code).toBe(0);
      const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
      return { stderr: result.stderr, chatTemplate: report.evaluator.chatTemplate, answers: report.models[0]!.answers.map((answer) => answer.output) };
    };

    const inline = await evaluate(small);
    const moved = await evaluate(await variant("small-jinja", template as string));
    expect(moved.answers).toEqual(inline.answers);
    expect(moved.stderr).not.toContain("has no chat template");

    const none = await evaluate(await variant("small-no-template", undefined));
    expect(none.stderr).toMatch(/^warning: .*small-no-template has no chat template \(none of chat_template\.jinja, tokenizer_config\.json, chat_template\.json holds one\): its prompts are given as plain text$/m);
    expect(inline.stderr).not.toContain("warning");
    expect([inline.chatTemplate, moved.chatTemplate, none.chatTemplate], "the report records whether the chat template was applied").toEqual([true, true, false]);

    // chat_template.jinja wins over tokenizer_config.json's template: this one stops the run, naming itself.
    const raising = await variant("small-raising-jinja", "{{ raise_exception('rendered chat_template.jinja') }}");
    await writeFile(join(raising, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    const failed = await runCli(["eval", "--model", raising, "--problems", "3", "--max-new-tokens", "1"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("rendered chat_template.jinja");
  }, 120_000);

  it("answers the same at --batch 1 and --batch 3, reports each model's batch and speed in --json, and shows its progress on stderr", async () => {
    const reports = [];
    for (const batch of ["1", "3"]) {
      const json = join(root, `report-batch-${batch}.json`);
      const result = await runCli(["eval", "--model", join(root, "small"), "--problems", "0,7,21", "--max-new-tokens", "4", "--batch", batch, "--json", json]);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain(`batch ${batch}`);
      const small = join(root, "small");
      expect(result.stderr).toContain(`${small}: reading and converting weights 100% (`);
      expect(result.stderr).toContain(`${small}: creating the onnxruntime session...`);
      expect(result.stderr).toContain(`${small}: answering 3 problems, ${batch} at a time`);
      expect(result.stderr).toMatch(/small: 3\/3 problems, 0 of \d+ rows busy, [\d.]+ tokens\/s \([\d.]+ per row\), 12 tokens in .+, ETA 0\.0 s/);
      const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
      expect(report.evaluator).toMatchObject({ batchSize: Number(batch), maxNewTokens: 4, format: "q8", runtime: "onnxruntime-node", greedy: true });
      expect(report.models[0]!.run.newTokens).toBe(12);
      expect(report.models[0]!.run.tokensPerSecond).toBeGreaterThan(0);
      reports.push(report.models[0]!.answers);
    }
    expect(reports[1]!.map(({ problemIndex, output }) => [problemIndex, output])).toEqual(reports[0]!.map(({ problemIndex, output }) => [problemIndex, output]));
    expect(reports[0]!.map((answer) => answer.problemIndex)).toEqual([0, 7, 21]);
  });

  it.each(["0", "-2", "2.5", "257", "many"])("refuses --batch %s in one line", async (batch) => {
    const result = await runCli(["eval", "--model", join(root, "small"), "--n", "1", `--batch=${batch}`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--batch: the batch size must be a whole number from 1 to 256, or auto; got "${batch}"`);
  });

  it("refuses another architecture, a model without a tokenizer and a bad format, in one line", async () => {
    const llama = join(root, "llama");
    await generateQwen2Model({ dir: llama, shape: tiny, dtype: "BF16", initSeed: 3 });
    const config = JSON.parse(await readFile(join(llama, "config.json"), "utf8")) as Record<string, unknown>;
    await writeFile(join(llama, "config.json"), JSON.stringify({ ...config, architectures: ["LlamaForCausalLM"], model_type: "llama" }));
    const other = await runCli(["eval", "--model", llama, "--n", "1"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error: .*LlamaForCausalLM/m);

    const noTokenizer = await runCli(["eval", "--model", join(root, "tiny"), "--n", "1"]);
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.stderr).toContain("tokenizer.json is missing");

    const format = await runCli(["eval", "--model", join(root, "tiny"), "--format", "int3"]);
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('--format must be one of f32, f16, q8, q4, got "int3"');
  });

  it("evaluates the target and the merge of a recipe file (--config), and refuses --config with --model", async () => {
    for (const variantSeed of [1, 2]) {
      await generateQwen2Model({ dir: join(root, `small-${variantSeed}`), shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 3, variantSeed, noiseScale: 0.5 });
    }
    const recipe = join(root, "ties.json");
    await writeFile(recipe, JSON.stringify({ target: "small", method: "ties", parameters: { density: 0.5 }, vectors: [{ plus: "small-1", minus: "small", weight: 1 }, { plus: "small-2", minus: "small", weight: [0.5, 1] }] }));
    const json = join(root, "ties-report.json");
    const result = await runCli(["eval", "--config", recipe, "--problems", "0", "--max-new-tokens", "2", "--json", json]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    // The recipe as written (normalize, which ties sets, cannot be scaled: without --alphas it runs at alpha 1 unscaled).
    expect(report.models.map((model) => [model.label, model.kind, model.alpha, model.answers.length])).toEqual([
      ["target", "target", null, 1],
      ["alpha 1", "merged", 1, 1],
    ]);
    expect(report.models[1]!.recipe).toMatchObject({ method: "ties", parameters: { normalize: true }, vectors: [{ weight: 1 }, { weight: [0.5, 1] }] });
    const swept = await runCli(["eval", "--config", recipe, "--alphas", "0.5", "--problems", "0", "--max-new-tokens", "2"]);
    expect(swept.code).toBe(1);
    expect(swept.stderr).toContain("set normalize to false to sweep alpha");
    const both = await runCli(["eval", "--config", recipe, "--model", join(root, "small"), "--n", "1"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/error: give either --model, or a recipe/);
  }, 120_000);
});
