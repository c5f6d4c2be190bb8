import { readFile, writeFile } from "node:fs/promises";
import { totalmem } from "node:os";
import * as ort from "onnxruntime-node";
import { inspectModel, type ModelInfo } from "../core/model/inspectModel.ts";
import { openModelSource } from "../core/node/openModelSource.ts";
import { pinnedRecipe } from "../core/output/pinnedRecipe.ts";
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
import type { ProblemSelection } from "../eval/tasks/createToyTask.ts";
import type { EvalTask, ItemScore } from "../eval/tasks/EvalTask.ts";
import { missingChatTemplateWarning } from "../eval/tokenizer/missingChatTemplateWarning.ts";
import { buildEvalReport } from "../eval/report/buildEvalReport.ts";
import type { EvalReport } from "../eval/report/EvalReport.ts";
import { renderEvalReportCsv } from "../eval/report/renderEvalReportCsv.ts";
import { runGsm8kEvaluation, type EvalModelSpec, type EvalProgress, type LoadPhase } from "../eval/runGsm8kEvaluation.ts";
import { assertSweepFitsMemory } from "../eval/sweep/assertSweepFitsMemory.ts";
import { checkAlphaZero } from "../eval/sweep/checkAlphaZero.ts";
import { sweepEvalModels } from "../eval/sweep/sweepEvalModels.ts";
import { mergedTensorLoader } from "../eval/weights/mergedTensorLoader.ts";
import { TOOL_VERSION } from "../core/version.ts";
import { planMerge } from "../core/plan/planMerge.ts";
import type { TensorLoader } from "../eval/onnx/buildQwen2Onnx.ts";
import { formatBytes, UsageError } from "./format.ts";
import { createHubStatusPrinter } from "./hubStatusPrinter.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";
import { readTaskArgs } from "./readTaskArgs.ts";
import { hasRecipeArgs, RECIPE_ARG_OPTIONS, readRecipeArgs } from "./recipeArgs.ts";
import { parseSweepArgs, SWEEP_ARG_OPTIONS } from "./sweepArgs.ts";

/** The GSM8K test set shipped with the app (public/ is served as the web root). */
const GSM8K_FILE = new URL(`../../public/${GSM8K_TEST_SET_PATH}`, import.meta.url);

export async function evalCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      model: { type: "string" },
      ...RECIPE_ARG_OPTIONS,
      ...SWEEP_ARG_OPTIONS,
      n: { type: "string", default: String(DEFAULT_SAMPLE_COUNT) },
      seed: { type: "string", default: String(DEFAULT_SAMPLE_SEED) },
      problems: { type: "string" },
      task: { type: "string", default: PROMPT_PRESETS[0]!.id },
      "chat-template": { type: "string", default: "on" },
      "fewshot-as-multiturn": { type: "boolean", default: false },
      "max-new-tokens": { type: "string" },
      format: { type: "string", default: "q8" },
      batch: { type: "string", default: "auto" },
      ids: { type: "string" },
      steps: { type: "string", default: "8" },
      dump: { type: "string" },
      json: { type: "string" },
      csv: { type: "string" },
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
  const sweepArgs = parseSweepArgs(values);
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
    const selection = () => problemSelection(values.problems, values.n, values.seed);
    const taskSpec = await readTaskArgs(values.task, selection);
    // GSM8K tasks answer a sample of the test set, a toy task one of its set (in its spec); a custom set answers all its lines.
    const { problems, sampleSeed } =
      taskSpec.kind === "custom"
        ? { problems: [], sampleSeed: null }
        : taskSpec.kind === "toy"
          ? { problems: [], sampleSeed: "seed" in taskSpec.selection ? taskSpec.selection.seed : null }
          : await chooseProblems(selection());
    const task = await createEvalTask(taskSpec, problems);
    const chatTemplates: boolean[] = [];
    const load = (model: ModelInfo, loadTensor: () => TensorLoader) => async (signal?: AbortSignal, onPhase?: (phase: LoadPhase) => void) => {
      const tokenizer = await readModelTokenizer(model, signal);
      chatTemplates.push(tokenizer.chatTemplate !== null);
      if (tokenizer.chatTemplate === null) process.stderr.write(`warning: ${missingChatTemplateWarning(model.source.label)}\n`);
      return loadEvalModel(ort, { config: model.config, loadTensor: loadTensor(), tokenizer }, format, { signal, onPhase, open: openDecoderFromTempFolder() });
    };
    let models: EvalModelSpec[];
    let target: ModelInfo;
    if (values.model !== undefined) {
      target = await inspect(values.model);
      readQwen2Config(target.config);
      const model = target;
      models = [{ id: "target", label: values.model, kind: "target", alpha: null, control: null, recipe: null, load: load(model, () => modelTensorLoader(model)) }];
    } else {
      const read = await readRecipeArgs(values);
      // The flags' recipe at weight 1, so that each alpha is the paper's alpha (--alpha A: the sweep of A alone); a recipe file as written, its weights scaled by each alpha (without --alphas: 1).
      const flagsAlpha = values.config === undefined ? (read.vectors[0]!.weight as number) : undefined;
      const recipe = flagsAlpha === undefined ? read : { ...read, vectors: [{ ...read.vectors[0]!, weight: 1 }] };
      const alphas = sweepArgs.alphas ?? [flagsAlpha ?? 1];
      if (alphas.length === 0) process.stderr.write(`--alphas is empty: evaluating the target${sweepArgs.controls.length > 0 ? " and the controls" : " alone"}\n`);
      const described = sweepEvalModels(recipe, alphas, {
        kinds: sweepArgs.controls,
        alpha: sweepArgs.controlAlpha ?? (alphas.length > 0 ? Math.max(...alphas) : 1),
        seed: sweepArgs.controlSeed,
      });
      const opened = await openAndPlan(recipe, (spec, label) => openModelSource(spec, hub, label));
      sources.push(...opened.sources);
      const inputs = opened.plan.models;
      target = inputs.target;
      readQwen2Config(target.config);
      const targetModel = target;
      // Every model's plan is made before anything loads: a recipe that cannot merge at some alpha stops the run here.
      models = described.map((model) => {
        if (model.recipe === null) return { ...model, load: load(targetModel, () => modelTensorLoader(targetModel)) };
        const plan = planMerge(inputs, model.recipe);
        if (!plan.ok) throw new Error(`cannot merge ${model.label}: ${plan.issues.find((issue) => issue.severity === "error")!.message}`);
        // The report names the merge as its merge_recipe.json does (Hub inputs pinned to their commits), so `record` can match them.
        return { ...model, recipe: pinnedRecipe(plan), load: load(targetModel, () => mergedTensorLoader(plan)) };
      });
    }
    const memoryBytes = totalmem();
    assertSweepFitsMemory(readQwen2Config(target.config), format, models.length, memoryBytes);
    const settings = {
      task,
      chatTemplate: chatTemplate === "on",
      fewShotAsMultiturn: values["fewshot-as-multiturn"],
      maxNewTokens: values["max-new-tokens"] === undefined ? task.defaultMaxNewTokens : positiveInteger(values["max-new-tokens"], "--max-new-tokens"),
      batchSize,
      memoryBytes,
    };
    const status = new StatusLine(process.stderr);
    const itemIds = task.items.length <= 100 ? ` (${task.items.map((item) => item.index).join(", ")})` : "";
    status.log(
      `${task.name}: ${task.items.length} items${itemIds}, ${task.promptFormat}, chat template ${chatTemplate}, max ${settings.maxNewTokens} new tokens, format ${format}, batch ${batchSize}, ${models.length} models`,
    );
    const labelOf = new Map(models.map((model) => [model.id, model.label]));
    const label = (id: string) => labelOf.get(id) ?? id;
    const results = await runGsm8kEvaluation(models, settings, {
      onModelLoading: (id) => status.log(`${label(id)}: building the ONNX graph (${format})...`),
      onLoadProgress: (id, phase) => status.update(describeLoadPhase(label(id), phase), phase.phase === "session" || phase.doneBytes === phase.totalBytes),
      onModelStart: (id, size) => {
        status.clear();
        status.log(`${label(id)}: answering ${task.items.length} problems, ${size} at a time`);
      },
      onProgress: (id, progress) => status.update(describeProgress(label(id), progress), progress.done === progress.total),
      onAnswer: (id, result) => status.log(`${label(id)} #${result.problemIndex}: ${describeScores(task, result.scores)} (${result.newTokens} tokens, ${result.decodeTokensPerSecond.toFixed(1)} tokens/s)`),
      onModelDone: (id, stats) => {
        status.clear();
        status.log(`${label(id)}: done in ${formatSeconds(stats.seconds)} (loaded in ${formatSeconds(stats.loadSeconds)}), ${stats.newTokens} tokens, ${stats.tokensPerSecond.toFixed(1)} tokens/s, batch ${stats.batchSize}`);
      },
    });
    status.clear();
    const report = buildEvalReport({
      finishedAt: new Date(),
      evaluator: {
        version: TOOL_VERSION,
        runtime: "onnxruntime-node",
        format,
        batchSize: results[0]!.run.batchSize,
        maxNewTokens: settings.maxNewTokens,
        greedy: true,
        chatTemplate: settings.chatTemplate && chatTemplates.every(Boolean),
      },
      task: describeEvaluatedTask(task, sampleSeed),
      models,
      results,
    });
    process.stdout.write(renderAnswers(task, report));
    process.stdout.write(renderSummary(report));
    if (values.json !== undefined) {
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      process.stderr.write(`wrote ${values.json}\n`);
    }
    if (values.csv !== undefined) {
      await writeFile(values.csv, renderEvalReportCsv(report));
      process.stderr.write(`wrote ${values.csv}\n`);
    }
    const mismatches = checkAlphaZero(models, results);
    for (const line of mismatches) process.stderr.write(`error: ${line}\n`);
    if (mismatches.length > 0) throw new Error(`alpha 0 did not give the target's answers (${mismatches.length} ${mismatches.length === 1 ? "model" : "models"}): its weights are not the target's; the report records the answers as they came`);
  } finally {
    await Promise.all(sources.map((source) => source.close?.()));
  }
}

/** The problems named by --problems, or a random sample of --n with --seed. */
function problemSelection(ids: string | undefined, count: string, seed: string): ProblemSelection {
  if (ids !== undefined) return { ids: parseIds(ids, "--problems") };
  return { count: positiveInteger(count, "--n"), seed: nonNegativeInteger(seed, "--seed") };
}

/** The GSM8K test problems of `selection` (the seed null when the problems are named or the sample is the whole set). */
async function chooseProblems(selection: ProblemSelection): Promise<{ problems: Gsm8kProblem[]; sampleSeed: number | null }> {
  const all = parseGsm8k(await readFile(GSM8K_FILE, "utf8"));
  if ("ids" in selection) return { problems: selectProblems(all, selection.ids), sampleSeed: null };
  const problems = sampleProblems(all, selection.count, selection.seed);
  return { problems, sampleSeed: problems.length < all.length ? selection.seed : null };
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
function describeScores(task: EvalTask, scores: readonly ItemScore[]): string {
  return scores.map((score, i) => `${task.metrics[i]!.name} ${score.extracted ?? "(nothing)"} ${score.correct ? "right" : "wrong"}`).join(", ");
}

/** Each item's reference answer and every model's extracted answer by the primary metric, right or wrong. */
function renderAnswers(task: EvalTask, report: EvalReport): string {
  const rows = [["item", "reference", ...report.models.map((model) => model.label)]];
  task.items.forEach((item, i) => {
    const cells = report.models.map((model) => {
      const [score] = model.answers[i]!.scores;
      return `${score!.extracted ?? "-"} ${score!.correct ? "✓" : "✗"}`;
    });
    rows.push([`#${item.index}`, task.reference(item), ...cells]);
  });
  return `${renderColumns(rows).join("\n")}\n\n`;
}

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
const pValue = (value: number) => value.toPrecision(3);

/**
 * One line per model and metric: its label, accuracy with the 95% Wilson interval, on the primary
 * metric's line against the target the problems fixed and broken, the exact McNemar p and the
 * Holm-adjusted p, and the metric; then what p and Holm p mean when the run compares several
 * models with the target.
 */
function renderSummary(report: EvalReport): string {
  const rows = [["model", "accuracy", "95% CI", "fixed", "broken", "p", "Holm p", "metric"]];
  for (const model of report.models) {
    const { comparison } = model;
    model.scores.forEach((score, i) => {
      rows.push([
        model.label,
        `${score.correct}/${score.total} = ${percent(score.accuracy)}`,
        `${percent(score.low)}-${percent(score.high)}`,
        ...(comparison && i === 0 ? [String(comparison.fixed), String(comparison.broken), pValue(comparison.pValue), pValue(comparison.holmPValue)] : ["", "", "", ""]),
        score.metric,
      ]);
    });
  }
  const comparisons = report.models.filter((model) => model.comparison !== null).length;
  const lines = renderColumns(rows);
  if (comparisons > 0) {
    lines.push(
      `fixed / broken: problems the target got wrong / right and this model right / wrong; p: exact McNemar test against the target. ` +
        (comparisons > 1
          ? `${comparisons} models are compared with the target, and many alphas mean many tests: read Holm p (adjusted over the ${comparisons} comparisons), not p, before calling a difference real.`
          : `One comparison: Holm p equals p.`),
    );
  }
  return `${lines.join("\n")}\n`;
}

function renderColumns(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
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
