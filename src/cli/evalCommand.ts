import { readFile, writeFile } from "node:fs/promises";
import { totalmem } from "node:os";
import * as ort from "onnxruntime-node";
import { inspectModel, type ModelInfo } from "../core/model/inspectModel.ts";
import { openModelSource } from "../core/node/openModelSource.ts";
import { openAndPlan } from "../core/plan/openAndPlan.ts";
import type { ModelSource } from "../core/sources/ModelSource.ts";
import { parseBatchSize, type BatchSizeSetting } from "../eval/chooseBatchSize.ts";
import { argmax } from "../eval/decoder/OnnxCausalDecoder.ts";
import { GSM8K_TEST_SET_PATH, parseGsm8k, type Gsm8kProblem } from "../eval/gsm8k/parseGsm8k.ts";
import { DEFAULT_SAMPLE_COUNT, DEFAULT_SAMPLE_SEED, sampleProblems, selectProblems } from "../eval/gsm8k/sampleProblems.ts";
import { loadEvalModel, readModelTokenizer } from "../eval/loadEvalModel.ts";
import { openDecoderFromTempFolder } from "../eval/node/openDecoderFromTempFolder.ts";
import { QWEN2_ONNX_FORMATS, type Qwen2OnnxFormat } from "../eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../eval/onnx/modelTensorLoader.ts";
import { readQwen2Config } from "../eval/onnx/readQwen2Config.ts";
import { PROMPT_PRESETS } from "../eval/prompt/promptPresets.ts";
import { createEvalTask, describeEvaluatedTask } from "../eval/tasks/createEvalTask.ts";
import type { EvalTask } from "../eval/tasks/EvalTask.ts";
import { missingChatTemplateWarning } from "../eval/tokenizer/missingChatTemplateWarning.ts";
import { runGsm8kEvaluation, type EvalModelResult, type EvalModelSpec, type EvalProgress, type LoadPhase } from "../eval/runGsm8kEvaluation.ts";
import { compareWithTarget } from "../eval/stats/compareWithTarget.ts";
import { mergedTensorLoader } from "../eval/weights/mergedTensorLoader.ts";
import { formatBytes, UsageError } from "./format.ts";
import { createHubStatusPrinter } from "./hubStatusPrinter.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";
import { readTaskArgs } from "./readTaskArgs.ts";
import { hasRecipeArgs, RECIPE_ARG_OPTIONS, readRecipeArgs } from "./recipeArgs.ts";

/** The GSM8K test set shipped with the app (public/ is served as the web root). */
const GSM8K_FILE = new URL(`../../public/${GSM8K_TEST_SET_PATH}`, import.meta.url);

export async function evalCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      model: { type: "string" },
      ...RECIPE_ARG_OPTIONS,
      n: { type: "string", default: String(DEFAULT_SAMPLE_COUNT) },
      seed: { type: "string", default: String(DEFAULT_SAMPLE_SEED) },
      problems: { type: "string" },
      task: { type: "string", default: PROMPT_PRESETS[0]!.id },
      "gsm8k-train": { type: "string" },
      "chat-template": { type: "string", default: "on" },
      "fewshot-as-multiturn": { type: "boolean", default: false },
      "max-new-tokens": { type: "string" },
      format: { type: "string", default: "q8" },
      batch: { type: "string", default: "auto" },
      ids: { type: "string" },
      steps: { type: "string", default: "8" },
      dump: { type: "string" },
      json: { type: "string" },
      "hub-url": { type: "string" },
    },
  });
  const format = values.format as Qwen2OnnxFormat;
  if (!QWEN2_ONNX_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${QWEN2_ONNX_FORMATS.join(", ")}, got "${values.format}"`);
  let batchSize: BatchSizeSetting;
  try {
    batchSize = parseBatchSize(values.batch);
  } catch (error) {
    throw new UsageError(`--batch: ${(error as Error).message}`);
  }
  if (hasRecipeArgs(values) === (values.model !== undefined)) {
    throw new UsageError("give either --model, or a recipe to compare the target with the merge: --config FILE, or --target, --plus and --minus");
  }
  const hub = { hubUrl: values["hub-url"], accessToken: process.env.HF_TOKEN || undefined, onStatus: createHubStatusPrinter() };
  const sources: ModelSource[] = [];
  const inspect = async (spec: string) => {
    const source = await openModelSource(spec, hub);
    sources.push(source);
    return inspectModel(source);
  };
  try {
    if (values.dump !== undefined || values.ids !== undefined) {
      if (values.model === undefined || values.dump === undefined || values.ids === undefined) throw new UsageError("--ids and --dump go together, with --model");
      await dumpLogits(await inspect(values.model), format, parseIds(values.ids, "--ids"), positiveInteger(values.steps, "--steps"), values.dump);
      return;
    }
    const chatTemplate = values["chat-template"];
    if (chatTemplate !== "on" && chatTemplate !== "off") throw new UsageError(`--chat-template must be on or off, got "${chatTemplate}"`);
    const taskSpec = await readTaskArgs(values.task, values["gsm8k-train"]);
    const problems = taskSpec.kind === "custom" ? [] : await chooseProblems(values.problems, values.n, values.seed);
    const task = await createEvalTask(taskSpec, problems);
    const sampleSeed = taskSpec.kind === "custom" || values.problems !== undefined ? null : Number(values.seed);
    const models: EvalModelSpec[] = [];
    const load = (model: ModelInfo, loadTensor = modelTensorLoader(model)) => async (signal?: AbortSignal, onPhase?: (phase: LoadPhase) => void) => {
      const tokenizer = await readModelTokenizer(model, signal);
      if (tokenizer.chatTemplate === null) process.stderr.write(`warning: ${missingChatTemplateWarning(model.source.label)}\n`);
      return loadEvalModel(ort, { config: model.config, loadTensor, tokenizer }, format, { signal, onPhase, open: openDecoderFromTempFolder() });
    };
    if (values.model !== undefined) {
      const model = await inspect(values.model);
      readQwen2Config(model.config);
      models.push({ id: "target", label: values.model, kind: "target", alpha: null, control: null, recipe: null, load: load(model) });
    } else {
      const recipe = await readRecipeArgs(values);
      const opened = await openAndPlan(recipe, (spec, label) => openModelSource(spec, hub, label));
      sources.push(...opened.sources);
      const { plan } = opened;
      const target = plan.models.target;
      readQwen2Config(target.config);
      if (!plan.ok) throw new Error(`cannot merge: ${plan.issues.find((issue) => issue.severity === "error")!.message}`);
      const [vector] = recipe.vectors;
      const shorthand = recipe.vectors.length === 1 && recipe.method === "task_arithmetic" && typeof vector?.weight === "number";
      models.push({ id: "target", label: recipe.target, kind: "target", alpha: null, control: null, recipe: null, load: load(target) });
      models.push({
        id: "merged",
        label: shorthand ? `merged (alpha ${vector.weight})` : `merged (${recipe.method}, ${recipe.vectors.length} vectors)`,
        kind: "merged",
        alpha: 1,
        control: recipe.control ? "random-sign" : null,
        recipe,
        load: load(target, mergedTensorLoader(plan)),
      });
    }
    const settings = {
      task,
      chatTemplate: chatTemplate === "on",
      fewShotAsMultiturn: values["fewshot-as-multiturn"],
      maxNewTokens: values["max-new-tokens"] === undefined ? task.defaultMaxNewTokens : positiveInteger(values["max-new-tokens"], "--max-new-tokens"),
      batchSize,
      memoryBytes: totalmem(),
    };
    const status = new StatusLine(process.stderr);
    const itemIds = task.items.length <= 100 ? ` (${task.items.map((item) => item.index).join(", ")})` : "";
    status.log(`${task.name}: ${task.items.length} items${itemIds}, ${task.promptFormat}, chat template ${chatTemplate}, max ${settings.maxNewTokens} new tokens, format ${format}, batch ${batchSize}`);
    const results = await runGsm8kEvaluation(models, settings, {
      onModelLoading: (role) => status.log(`${role}: building the ONNX graph (${format})...`),
      onLoadProgress: (role, phase) => status.update(describeLoadPhase(role, phase), phase.phase === "session" || phase.doneBytes === phase.totalBytes),
      onModelStart: (role, size) => {
        status.clear();
        status.log(`${role}: answering ${task.items.length} problems, ${size} at a time`);
      },
      onProgress: (role, progress) => status.update(describeProgress(role, progress), progress.done === progress.total),
      onAnswer: (role, result) => status.log(`${role} #${result.problemIndex}: ${describeScores(task, result.scores)} (${result.newTokens} tokens, ${result.decodeTokensPerSecond.toFixed(1)} tokens/s)`),
      onModelDone: (role, stats) => {
        status.clear();
        status.log(`${role}: done in ${formatSeconds(stats.seconds)} (loaded in ${formatSeconds(stats.loadSeconds)}), ${stats.newTokens} tokens, ${stats.tokensPerSecond.toFixed(1)} tokens/s, batch ${stats.batchSize}`);
      },
    });
    status.clear();
    process.stdout.write(renderResults(task, results));
    if (values.json !== undefined) {
      const report = {
        task: describeEvaluatedTask(task, sampleSeed),
        chatTemplate: settings.chatTemplate,
        maxNewTokens: settings.maxNewTokens,
        problems: task.items.map((item) => ({ index: item.index, question: item.question, reference: task.reference(item) })),
        answers: Object.fromEntries(results.map(({ id, answers }) => [id, answers])),
        summary: compareWithTarget(results.map(({ id, answers }) => ({ id, correct: answers.map((answer) => answer.correct) })), "target"),
        runs: Object.fromEntries(results.map(({ id, run }) => [id, run])),
      };
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      process.stderr.write(`wrote ${values.json}\n`);
    }
  } finally {
    await Promise.all(sources.map((source) => source.close?.()));
  }
}

async function chooseProblems(ids: string | undefined, count: string, seed: string): Promise<Gsm8kProblem[]> {
  const all = parseGsm8k(await readFile(GSM8K_FILE, "utf8"));
  if (ids !== undefined) return selectProblems(all, parseIds(ids, "--problems"));
  return sampleProblems(all, positiveInteger(count, "--n"), nonNegativeInteger(seed, "--seed"));
}

/** The prompt's last-position logits and `steps` greedy tokens, for numeric checks against another implementation. */
async function dumpLogits(model: ModelInfo, format: Qwen2OnnxFormat, ids: number[], steps: number, path: string): Promise<void> {
  const { decoder } = await openDecoderFromTempFolder()(ort, model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" }, {});
  try {
    const vocab = decoder.vocabSize;
    const outOfRange = ids.find((id) => id >= vocab);
    if (outOfRange !== undefined) throw new UsageError(`--ids: token ${outOfRange} is outside the vocabulary (${vocab} rows)`);
    const logits = await decoder.forward(ids, { lastOnly: true });
    const greedy: number[] = [];
    for (let next = logits; greedy.length < steps; ) {
      greedy.push(argmax(next));
      if (greedy.length < steps) next = await decoder.forward([greedy.at(-1)!], { lastOnly: true });
    }
    await writeFile(path, JSON.stringify({ logits: Array.from(logits), greedy_ids: greedy }));
    process.stderr.write(`wrote ${path}: ${logits.length} logits, ${greedy.length} greedy tokens\n`);
  } finally {
    await decoder.release();
  }
}

/** "strict-match 18 right, flexible-extract 18. right". */
function describeScores(task: EvalTask, scores: readonly { extracted: string | null; correct: boolean }[]): string {
  return scores.map((score, i) => `${task.metrics[i]!.name} ${score.extracted ?? "(nothing)"} ${score.correct ? "right" : "wrong"}`).join(", ");
}

/** One row per item (each model's answer by the primary metric), then each model's accuracy by every metric. */
function renderResults(task: EvalTask, results: readonly EvalModelResult[]): string {
  const rows = [["item", "reference", ...results.map(({ id }) => id)]];
  task.items.forEach((item, i) => {
    const cells = results.map(({ answers }) => {
      const result = answers[i];
      return result ? `${result.scores[0]!.extracted ?? "-"} ${result.correct ? "✓" : "✗"}` : "";
    });
    rows.push([`#${item.index}`, task.reference(item), ...cells]);
  });
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
  lines.push("");
  const summary = compareWithTarget(results.map(({ id, answers }) => ({ id, correct: answers.map((answer) => answer.correct) })), "target");
  const primary = task.metrics[0]!.name;
  for (const { id, correct, total, accuracy } of summary) {
    if (accuracy) lines.push(`${id}: ${correct}/${total} = ${(100 * accuracy.estimate).toFixed(1)}% (95% CI ${(100 * accuracy.low).toFixed(1)}-${(100 * accuracy.high).toFixed(1)}%), ${primary}`);
  }
  task.metrics.slice(1).forEach((metric, i) => {
    for (const { id, answers } of results) {
      const correct = answers.filter((answer) => answer.scores[i + 1]!.correct).length;
      lines.push(`${id}: ${correct}/${answers.length} = ${((100 * correct) / Math.max(1, answers.length)).toFixed(1)}%, ${metric.name}`);
    }
  });
  for (const { id, vsTarget } of summary) {
    if (vsTarget) lines.push(`target -> ${id}: ${vsTarget.wrongToRight} fixed, ${vsTarget.rightToWrong} broken, exact McNemar p = ${vsTarget.pValue.toPrecision(3)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Seconds between progress lines when stderr is not a terminal (a log file, a CI job), and between redraws on a terminal. */
const PROGRESS_LINE_SECONDS = 10;
const PROGRESS_REDRAW_SECONDS = 0.2;

/**
 * Progress on stderr: on a terminal one line rewritten in place (at most every
 * PROGRESS_REDRAW_SECONDS), elsewhere a line at most every PROGRESS_LINE_SECONDS; always when
 * `final`. Log lines go above it.
 */
class StatusLine {
  private shown = "";
  private lastLineAt = -Infinity;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(text: string, final = false): void {
    const now = performance.now();
    const tty = this.stream.isTTY;
    if (tty) this.shown = text.slice(0, Math.max(40, (this.stream.columns || 120) - 1));
    if (!final && now - this.lastLineAt < (tty ? PROGRESS_REDRAW_SECONDS : PROGRESS_LINE_SECONDS) * 1000) return;
    this.lastLineAt = now;
    this.stream.write(tty ? `\r\x1b[K${this.shown}` : `${text}\n`);
  }

  log(line: string): void {
    if (this.stream.isTTY && this.shown !== "") this.stream.write(`\r\x1b[K${line}\n${this.shown}`);
    else this.stream.write(`${line}\n`);
  }

  clear(): void {
    if (this.stream.isTTY && this.shown !== "") this.stream.write("\r\x1b[K");
    this.shown = "";
  }
}

function describeLoadPhase(role: string, phase: LoadPhase): string {
  if (phase.phase === "session") return `${role}: creating the onnxruntime session...`;
  const percent = Math.floor((100 * phase.doneBytes) / Math.max(1, phase.totalBytes));
  return `${role}: reading and converting weights ${percent}% (${formatBytes(phase.doneBytes)} of ${formatBytes(phase.totalBytes)})`;
}

function describeProgress(role: string, progress: EvalProgress): string {
  const eta = progress.etaSeconds === null ? "ETA -" : `ETA ${formatSeconds(progress.etaSeconds)}`;
  return (
    `${role}: ${progress.done}/${progress.total} problems, ${progress.activeRows} of ${progress.batchSize} rows busy, ` +
    `${progress.tokensPerSecond.toFixed(1)} tokens/s (${progress.rowTokensPerSecond.toFixed(1)} per row), ${progress.newTokens} tokens in ${formatSeconds(progress.elapsedSeconds)}, ${eta}`
  );
}

function formatSeconds(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return seconds < 10 ? `${seconds.toFixed(1)} s` : `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return minutes < 60 ? `${minutes} min ${whole % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function parseIds(text: string, flag: string): number[] {
  const ids = text.split(",").map((part) => part.trim());
  if (ids.some((id) => !/^\d+$/.test(id))) throw new UsageError(`${flag} must be comma-separated non-negative integers, got "${text}"`);
  return ids.map(Number);
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1) throw new UsageError(`${flag} must be a positive integer, got "${text}"`);
  return value;
}

function nonNegativeInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} must be a non-negative integer, got "${text}"`);
  return Number(text);
}
