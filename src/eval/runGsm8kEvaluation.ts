import type { GenerationResult } from "./decoder/OnnxCausalDecoder.ts";
import type { Gsm8kProblem } from "./gsm8k/parseGsm8k.ts";
import { buildPrompt } from "./prompt/buildPrompt.ts";
import { cutAtStopSequences, scoreOutput } from "./scoring/scoreOutput.ts";
import type { ExtractedAnswer } from "./scoring/extractAnswer.ts";
import { pairedComparison, type PairedComparison } from "./stats/pairedComparison.ts";
import { wilsonInterval, type ProportionEstimate } from "./stats/wilsonInterval.ts";
import type { EvalTokenizer } from "./tokenizer/loadTokenizer.ts";

/** Which model of a recipe is evaluated. */
export type EvalRole = "target" | "merged" | "plus" | "minus";
export const EVAL_ROLES: readonly EvalRole[] = ["target", "merged", "plus", "minus"];

/** What the runner needs of a loaded model: greedy generation with a stop test. */
export interface GreedyGenerator {
  generate(
    promptIds: readonly number[],
    options: { maxNewTokens: number; eosTokenIds: readonly number[]; onToken: (token: number) => void; stopWhen: () => boolean; signal?: AbortSignal },
  ): Promise<GenerationResult>;
  release(): Promise<void>;
}

export interface LoadedEvalModel {
  generator: GreedyGenerator;
  tokenizer: EvalTokenizer;
}

/** A model to evaluate, loaded only when its turn comes (one model in memory at a time). */
export interface EvalModelSpec {
  role: EvalRole;
  label: string;
  load(signal?: AbortSignal): Promise<LoadedEvalModel>;
}

export interface EvalSettings {
  problems: readonly Gsm8kProblem[];
  /** A preset's template or the user's edit of it, with {question}. */
  promptTemplate: string;
  stopSequences: readonly string[];
  maxNewTokens: number;
}

export interface ProblemResult {
  problemIndex: number;
  output: string;
  extracted: ExtractedAnswer | null;
  correct: boolean;
  newTokens: number;
  stopReason: "eos" | "stop_sequence" | "max_new_tokens";
  decodeTokensPerSecond: number;
}

export interface EvalEvents {
  onModelLoading?(role: EvalRole): void;
  onModelStart?(role: EvalRole): void;
  /** The output so far of the problem being answered, and the decode speed so far. */
  onToken?(role: EvalRole, problemIndex: number, text: string, tokensPerSecond: number): void;
  onAnswer?(role: EvalRole, result: ProblemResult): void;
}

/**
 * Runs every model on every problem, one model at a time (loaded, run, released), greedy, each
 * answer scored as it completes. Generation stops at the tokenizer's stop tokens, at a stop
 * sequence of the prompt (8-shot: "Question:") or at maxNewTokens.
 */
export async function runGsm8kEvaluation(models: readonly EvalModelSpec[], settings: EvalSettings, events: EvalEvents = {}, signal?: AbortSignal): Promise<Map<EvalRole, ProblemResult[]>> {
  const results = new Map<EvalRole, ProblemResult[]>();
  for (const model of models) {
    signal?.throwIfAborted();
    events.onModelLoading?.(model.role);
    const { generator, tokenizer } = await model.load(signal);
    try {
      events.onModelStart?.(model.role);
      const answers: ProblemResult[] = [];
      results.set(model.role, answers);
      for (const problem of settings.problems) {
        const answer = await answerProblem(generator, tokenizer, problem, settings, (text, tokensPerSecond) => events.onToken?.(model.role, problem.index, text, tokensPerSecond), signal);
        answers.push(answer);
        events.onAnswer?.(model.role, answer);
      }
    } finally {
      await generator.release();
    }
  }
  return results;
}

async function answerProblem(
  generator: GreedyGenerator,
  tokenizer: EvalTokenizer,
  problem: Gsm8kProblem,
  settings: EvalSettings,
  onText: (text: string, tokensPerSecond: number) => void,
  signal: AbortSignal | undefined,
): Promise<ProblemResult> {
  const prompt = buildPrompt(settings.promptTemplate, problem.question, tokenizer.chatTemplate);
  const tokens: number[] = [];
  let text = "";
  let firstTokenAt = 0;
  const generation = await generator.generate(tokenizer.encode(prompt), {
    maxNewTokens: settings.maxNewTokens,
    eosTokenIds: tokenizer.stopTokenIds,
    signal,
    onToken: (token) => {
      tokens.push(token);
      if (tokens.length === 1) firstTokenAt = performance.now();
      text = tokenizer.decode(tokens, { skipSpecialTokens: true });
      const seconds = (performance.now() - firstTokenAt) / 1000;
      onText(text, seconds > 0 ? (tokens.length - 1) / seconds : 0);
    },
    stopWhen: () => cutAtStopSequences(text, settings.stopSequences).length < text.length,
  });
  const output = cutAtStopSequences(text, settings.stopSequences);
  const { extracted, correct } = scoreOutput(output, problem.gold);
  const stopReason = output.length < text.length ? "stop_sequence" : generation.stopReason;
  return { problemIndex: problem.index, output, extracted, correct, newTokens: generation.tokens.length, stopReason, decodeTokensPerSecond: generation.decodeTokensPerSecond };
}

export interface ModelAccuracy {
  role: EvalRole;
  correct: number;
  total: number;
  /** Accuracy with its 95% Wilson interval. */
  accuracy: ProportionEstimate;
}

export interface EvalSummary {
  accuracies: ModelAccuracy[];
  /** Target vs merged on the same problems, when both ran on all of them. */
  targetVsMerged: PairedComparison | null;
}

export function summarizeEvaluation(results: ReadonlyMap<EvalRole, readonly ProblemResult[]>): EvalSummary {
  const accuracies = [...results].map(([role, answers]) => {
    const correct = answers.filter((answer) => answer.correct).length;
    return { role, correct, total: answers.length, accuracy: wilsonInterval(correct, answers.length) };
  });
  const target = results.get("target");
  const merged = results.get("merged");
  const paired = target && merged && target.length === merged.length && target.length > 0;
  return {
    accuracies,
    targetVsMerged: paired ? pairedComparison(target.map((answer) => answer.correct), merged.map((answer) => answer.correct)) : null,
  };
}
