import type { MergeRecipe } from "../core/recipe/MergeRecipe.ts";
import type { Gsm8kProblem } from "../eval/gsm8k/parseGsm8k.ts";
import type { BatchSizeSetting } from "../eval/chooseBatchSize.ts";
import type { Qwen2OnnxFormat } from "../eval/onnx/buildQwen2Onnx.ts";
import type { EvalModelDescription } from "../eval/report/buildEvalReport.ts";
import type { EvaluatedModelKind } from "../eval/report/EvalReport.ts";
import type { EvalTaskSpec } from "../eval/tasks/createEvalTask.ts";
import type { EvalProgress, LoadPhase, ModelRunStats, ProblemResult } from "../eval/runGsm8kEvaluation.ts";
import type { InputSpec } from "./mergeWorkerMessages.ts";

/** Which model of the page's recipe is evaluated; it is also the model's id in the worker's events. */
export type EvalRole = EvaluatedModelKind;
export const EVAL_ROLES: readonly EvalRole[] = ["target", "merged", "plus", "minus"];

/** onnxruntime-web's execution providers the evaluator offers. */
export type EvalExecutionProvider = "wasm" | "webgpu";

/**
 * Everything an evaluation worker needs to evaluate ONE model: the page starts a fresh worker per
 * model and terminates it when that model is done (a WebAssembly memory never shrinks).
 */
export interface BrowserEvalRequest {
  hubUrl: string;
  accessToken?: string;
  /**
   * The page's recipe: its target is the "target" model, its first vector's models are "plus" and
   * "minus". A "merged" model is computed from its own recipe (at its alpha, with its control).
   */
  recipe: MergeRecipe;
  /** What each model spec of the recipes opens, keyed by the spec as the recipe writes it. */
  inputs: Record<string, InputSpec>;
  model: EvalModelDescription;
  /** The task, as data: the worker builds it again (createEvalTask) with `problems`. */
  task: EvalTaskSpec;
  /** The GSM8K problems a GSM8K task answers (a custom set answers its own lines). */
  problems: Gsm8kProblem[];
  /** Prompts through each model's chat template (where it has one). */
  chatTemplate: boolean;
  maxNewTokens: number;
  format: Qwen2OnnxFormat;
  executionProvider: EvalExecutionProvider;
  /** Problems answered at once, or "auto" (from the model's size within WebAssembly's 4 GiB). */
  batchSize: BatchSizeSetting;
}

/** From the page to workers/evalWorker.ts; to cancel, the page terminates the worker. */
export type EvalWorkerCommand = { type: "start"; request: BrowserEvalRequest };

/** From workers/evalWorker.ts to the page, each naming the request's model by its id. */
export type EvalWorkerEvent =
  | { type: "loading"; modelId: string; phase: LoadPhase }
  | { type: "modelStart"; modelId: string; batchSize: number }
  /** A model's repo has something the user should know (no chat template: plain prompts). */
  | { type: "notice"; modelId: string; message: string }
  /** The threads onnxruntime-web runs on, once its first session has started. */
  | { type: "threads"; threads: number; crossOriginIsolated: boolean }
  | { type: "token"; modelId: string; problemIndex: number; text: string; tokensPerSecond: number }
  | { type: "progress"; modelId: string; progress: EvalProgress }
  | { type: "answer"; modelId: string; result: ProblemResult }
  | { type: "modelDone"; modelId: string; stats: ModelRunStats }
  | { type: "done" }
  | { type: "failed"; message: string };
