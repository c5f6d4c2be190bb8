import { chooseBatchSize, type BatchSizeSetting } from "./chooseBatchSize.ts";
import type { BatchGenerateOptions, GenerationResult } from "./decoder/OnnxCausalDecoder.ts";
import type { Qwen2Config } from "./onnx/readQwen2Config.ts";
import { cutAtStopSequences } from "./scoring/scoreOutput.ts";
import type { EvalTask, ItemScore } from "./tasks/EvalTask.ts";
import type { EvalControl, EvaluatedModelKind } from "./report/EvalReport.ts";
import type { EvalTokenizer } from "./tokenizer/loadTokenizer.ts";
import type { MergeRecipe } from "../core/recipe/MergeRecipe.ts";

/** What the runner needs of a loaded model: batched greedy generation (OnnxCausalDecoder). */
export interface GreedyGenerator {
  generateBatch(prompts: ReadonlyArray<readonly number[]>, options: BatchGenerateOptions): Promise<GenerationResult[]>;
  release(): Promise<void>;
}

export interface LoadedEvalModel {
  generator: GreedyGenerator;
  tokenizer: EvalTokenizer;
  config: Qwen2Config;
  /** Bytes of the weights the session holds (for the automatic batch size). */
  weightBytes: number;
}

/**
 * A phase of loading a model: "weights" reads each tensor and writes it, converted or quantised,
 * into the graph's weights (bytes written so far of all); "session" is onnxruntime compiling the
 * graph and taking the weights (no finer progress exists).
 */
export type LoadPhase = { phase: "weights"; doneBytes: number; totalBytes: number } | { phase: "session" };

/** A model to evaluate, loaded only when its turn comes (one model in memory at a time). */
export interface EvalModelSpec {
  /** Unique within a run: every event and result names the model by it. */
  id: string;
  /** What tables and charts call it: "target", "alpha 0.5", "reversed (alpha -1)". */
  label: string;
  kind: EvaluatedModelKind;
  /** For a merged model: the factor every vector weight of the recipe was scaled by; null otherwise. */
  alpha: number | null;
  /** For a merged model made as a control; null otherwise. */
  control: EvalControl | null;
  /** For a merged model: the recipe its weights are computed from (already at its alpha); null otherwise. */
  recipe: MergeRecipe | null;
  load(signal?: AbortSignal, onPhase?: (phase: LoadPhase) => void): Promise<LoadedEvalModel>;
}

export interface EvalSettings {
  /** What is answered (task.items, in order), how each prompt is made, where answers stop, how they are scored. */
  task: EvalTask;
  /**
   * Whether prompts go through the model's chat template (lm-eval's --apply_chat_template); a
   * model without one gets plain prompts either way.
   */
  chatTemplate: boolean;
  /** With the chat template: few-shot examples as separate turns (lm-eval's --fewshot_as_multiturn). */
  fewShotAsMultiturn?: boolean;
  /** The task's defaultMaxNewTokens unless the user chose otherwise. */
  maxNewTokens: number;
  /** Problems answered at once; "auto": chooseBatchSize from the model and memoryBytes. */
  batchSize: BatchSizeSetting;
  /** Memory the evaluation may use (for the automatic batch size): RAM in Node, 4 GiB in WebAssembly. */
  memoryBytes: number;
}

export interface ProblemResult {
  /** The item's index (EvalItem.index). */
  problemIndex: number;
  /** The output, cut at the task's stop sequences. */
  output: string;
  /** One per task metric, in task.metrics' order. */
  scores: ItemScore[];
  /** The primary metric's verdict (scores[0].correct): what accuracies and comparisons count. */
  correct: boolean;
  newTokens: number;
  stopReason: "eos" | "stop_sequence" | "max_new_tokens";
  decodeTokensPerSecond: number;
}

/** Where one model's run stands, after each forward pass and each answer. */
export interface EvalProgress {
  /** Problems answered, of all. */
  done: number;
  total: number;
  batchSize: number;
  /** Problems being answered now (rows of the batch). */
  activeRows: number;
  /** New tokens generated so far, by all rows. */
  newTokens: number;
  /** Seconds since the model started answering (its loading not included). */
  elapsedSeconds: number;
  /** New tokens per second, all rows together. */
  tokensPerSecond: number;
  /** New tokens per second of one row: decode steps per second of wall time, prefills of other rows included. */
  rowTokensPerSecond: number;
  /**
   * Seconds left, estimated as the tokens still to come (the mean length of the answers so far,
   * or max new tokens before the first, times the problems not done, less what the open rows have)
   * over the aggregate rate; null before the first token.
   */
  etaSeconds: number | null;
}

/** One model's run, when all its problems are answered. */
export interface ModelRunStats {
  batchSize: number;
  loadSeconds: number;
  /** Seconds answering (after loading). */
  seconds: number;
  /** Seconds of the forward passes that prefilled prompts (each giving its rows' first tokens). */
  prefillSeconds: number;
  /** Seconds of the forward passes that decoded one more token for every busy row. */
  decodeSeconds: number;
  newTokens: number;
  tokensPerSecond: number;
}

/** One model's answers, in the order of settings.task.items, and its run figures. */
export interface EvalModelResult {
  id: string;
  answers: ProblemResult[];
  run: ModelRunStats;
}

/** Every event names its model by EvalModelSpec.id. */
export interface EvalEvents {
  onModelLoading?(modelId: string): void;
  onLoadProgress?(modelId: string, phase: LoadPhase): void;
  onModelStart?(modelId: string, batchSize: number): void;
  /** The output so far of a problem being answered, and its decode speed so far. */
  onToken?(modelId: string, problemIndex: number, text: string, tokensPerSecond: number): void;
  /** A problem answered (problems finish in any order when several are answered at once). */
  onAnswer?(modelId: string, result: ProblemResult): void;
  onProgress?(modelId: string, progress: EvalProgress): void;
  onModelDone?(modelId: string, stats: ModelRunStats): void;
}

/**
 * Runs every model on every item of the task, one model at a time (loaded, run, released), greedy,
 * several items at once (settings.batchSize), each answer scored by every metric of the task as it
 * completes. Generation stops at the tokenizer's stop tokens, at a stop sequence of the task
 * (lm-eval gsm8k: "Question:") or at maxNewTokens. The results come in the order of `models`, each
 * model's answers in the order of settings.task.items.
 */
export async function runGsm8kEvaluation(models: readonly EvalModelSpec[], settings: EvalSettings, events: EvalEvents = {}, signal?: AbortSignal): Promise<EvalModelResult[]> {
  const ids = new Set<string>();
  for (const { id } of models) {
    if (ids.has(id)) throw new Error(`two models to evaluate have the id "${id}": each needs its own`);
    ids.add(id);
  }
  const results: EvalModelResult[] = [];
  for (const model of models) {
    signal?.throwIfAborted();
    events.onModelLoading?.(model.id);
    const loadStart = performance.now();
    const loaded = await model.load(signal, (phase) => events.onLoadProgress?.(model.id, phase));
    try {
      const loadSeconds = (performance.now() - loadStart) / 1000;
      results.push({ id: model.id, ...(await answerProblems(model.id, loaded, settings, loadSeconds, events, signal)) });
    } finally {
      await loaded.generator.release();
    }
  }
  return results;
}

async function answerProblems(
  modelId: string,
  { generator, tokenizer, config, weightBytes }: LoadedEvalModel,
  settings: EvalSettings,
  loadSeconds: number,
  events: EvalEvents,
  signal: AbortSignal | undefined,
): Promise<{ answers: ProblemResult[]; run: ModelRunStats }> {
  const { task, maxNewTokens } = settings;
  const { items: problems, stopSequences } = task;
  const promptOptions = { chatTemplate: settings.chatTemplate ? tokenizer.chatTemplate : null, fewShotAsMultiturn: settings.fewShotAsMultiturn };
  const prompts = problems.map((item) => tokenizer.encode(task.renderPrompt(item, promptOptions)));
  const batchSize =
    settings.batchSize === "auto"
      ? chooseBatchSize({ config, weightBytes, memoryBytes: settings.memoryBytes, longestSequence: Math.max(...prompts.map((ids) => ids.length)) + maxNewTokens, problems: problems.length })
      : settings.batchSize;
  events.onModelStart?.(modelId, batchSize);
  const tokens = problems.map((): number[] => []);
  const texts = problems.map(() => "");
  const firstTokenAt = problems.map(() => 0);
  const answers: ProblemResult[] = new Array(problems.length);
  const start = performance.now();
  let done = 0;
  let newTokens = 0;
  let answeredTokens = 0;
  let decodeSteps = 0;
  let activeRows = 0;
  const stepSeconds = { prefill: 0, decode: 0 };
  const reportProgress = () => {
    const elapsedSeconds = (performance.now() - start) / 1000;
    const tokensPerSecond = elapsedSeconds > 0 ? newTokens / elapsedSeconds : 0;
    const meanAnswerTokens = done > 0 ? answeredTokens / done : maxNewTokens;
    const openTokens = newTokens - answeredTokens;
    const tokensLeft = Math.max(0, (problems.length - done) * meanAnswerTokens - openTokens);
    events.onProgress?.(modelId, {
      done,
      total: problems.length,
      batchSize,
      activeRows,
      newTokens,
      elapsedSeconds,
      tokensPerSecond,
      rowTokensPerSecond: elapsedSeconds > 0 ? decodeSteps / elapsedSeconds : 0,
      etaSeconds: newTokens > 0 && tokensPerSecond > 0 ? tokensLeft / tokensPerSecond : done === problems.length ? 0 : null,
    });
  };
  await generator.generateBatch(prompts, {
    batchSize,
    maxNewTokens,
    eosTokenIds: tokenizer.stopTokenIds,
    signal,
    onToken: (prompt, token) => {
      const sofar = tokens[prompt]!;
      sofar.push(token);
      newTokens++;
      if (sofar.length === 1) firstTokenAt[prompt] = performance.now();
      texts[prompt] = tokenizer.decode(sofar, { skipSpecialTokens: true });
      const seconds = (performance.now() - firstTokenAt[prompt]!) / 1000;
      events.onToken?.(modelId, problems[prompt]!.index, texts[prompt]!, seconds > 0 ? (sofar.length - 1) / seconds : 0);
    },
    stopWhen: (prompt) => cutAtStopSequences(texts[prompt]!, stopSequences).length < texts[prompt]!.length,
    onStep: (step) => {
      activeRows = step.kind === "decode" ? step.rows : activeRows + step.rows;
      if (step.kind === "decode") decodeSteps++;
      stepSeconds[step.kind] += step.seconds;
      reportProgress();
    },
    onFinish: (prompt, generation) => {
      const text = texts[prompt]!;
      const output = cutAtStopSequences(text, stopSequences);
      const scores = task.metrics.map((metric) => metric.score(output, problems[prompt]!));
      const stopReason = output.length < text.length ? "stop_sequence" : generation.stopReason;
      const answer = { problemIndex: problems[prompt]!.index, output, scores, correct: scores[0]!.correct, newTokens: generation.tokens.length, stopReason, decodeTokensPerSecond: generation.decodeTokensPerSecond };
      answers[prompt] = answer;
      done++;
      activeRows--;
      answeredTokens += generation.tokens.length;
      events.onAnswer?.(modelId, answer);
      reportProgress();
    },
  });
  const seconds = (performance.now() - start) / 1000;
  const run: ModelRunStats = {
    batchSize,
    loadSeconds,
    seconds,
    prefillSeconds: stepSeconds.prefill,
    decodeSeconds: stepSeconds.decode,
    newTokens,
    tokensPerSecond: seconds > 0 ? newTokens / seconds : 0,
  };
  events.onModelDone?.(modelId, run);
  return { answers, run };
}
