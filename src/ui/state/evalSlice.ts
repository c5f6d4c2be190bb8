import type { StateCreator } from "zustand";
import { parseBatchSize } from "../../eval/chooseBatchSize.ts";
import type { Gsm8kProblem } from "../../eval/gsm8k/parseGsm8k.ts";
import { DEFAULT_SAMPLE_COUNT, DEFAULT_SAMPLE_SEED, sampleProblems, selectProblems } from "../../eval/gsm8k/sampleProblems.ts";
import type { Qwen2OnnxFormat } from "../../eval/onnx/buildQwen2Onnx.ts";
import { PROMPT_PRESETS, type PromptPreset } from "../../eval/prompt/promptPresets.ts";
import type { EvalProgress, LoadPhase, ModelRunStats, ProblemResult } from "../../eval/runGsm8kEvaluation.ts";
import type { BrowserEvalRequest, EvalExecutionProvider, EvalRole, EvalWorkerEvent } from "../../browser/evalWorkerMessages.ts";
import type { EvalModelDescription } from "../../eval/report/buildEvalReport.ts";
import { parseAlphaList } from "../../eval/sweep/parseAlphaList.ts";
import { loadGsm8kSplit } from "../eval/loadGsm8kSplit.ts";
import { startBrowserEval } from "../eval/startBrowserEval.ts";
import type { EvaluatedTask } from "../../eval/report/EvalReport.ts";
import { createEvalTask, describeEvaluatedTask } from "../../eval/tasks/createEvalTask.ts";
import type { ProblemSelection } from "../../eval/tasks/createToyTask.ts";
import { buildEvalTaskSpec } from "./evalTaskSlice.ts";
import { buildMergeRequest } from "./mergeSlice.ts";
import { pinnedRequestParts } from "./pinnedRequestParts.ts";
import { selectMergePlan } from "./selectMergePlan.ts";
import { planSweepModels } from "./sweepModels.ts";
import type { StudioState } from "./studioStore.ts";

/** An item of a run as the table shows it. */
export interface EvalRunItem {
  index: number;
  question: string;
  /** The right answer (EvalTask.reference). */
  reference: string;
}

/** What the results show of one run: its items, its models in order, and their answers so far. */
export interface EvalRunData {
  problems: EvalRunItem[];
  /** The task as a report records it (its metrics, the primary first, in ProblemResult.scores' order). */
  task: EvaluatedTask;
  /** Whether prompts went through the models' chat templates. */
  chatTemplate: boolean;
  /** The models of the run, in the order they run (planSweepModels): one worker each. */
  models: EvalModelDescription[];
  /** Each model's answers so far, in the order of `problems`, by model id. */
  answers: Record<string, ProblemResult[]>;
  /** Each model's timing once all its problems are answered (batch size, load, prefill and decode seconds, tokens), by model id. */
  runs: Record<string, ModelRunStats>;
  /** The settings the run used, for its report. */
  settings: EvalRunSettings;
}

/** What a run's report records of how it ran, besides its task. */
export interface EvalRunSettings {
  format: Qwen2OnnxFormat;
  provider: EvalExecutionProvider;
  maxNewTokens: number;
}

/** The output so far of a problem being answered. */
export interface LiveAnswer {
  problemIndex: number;
  text: string;
  tokensPerSecond: number;
}

export type EvalRunState =
  | { status: "idle" }
  | ({
      status: "running";
      /** The model being loaded (its loading phase) or run (its batch size and progress); each has a worker of its own. */
      current: { modelId: string; loading?: LoadPhase; batchSize?: number; progress?: EvalProgress } | undefined;
      /** The problems the current model is answering now, in the order they started. */
      live: LiveAnswer[];
      cancel: () => void;
    } & EvalRunData)
  | ({ status: "done"; finishedAt: Date } & EvalRunData)
  | ({ status: "cancelled" } & EvalRunData)
  | { status: "failed"; error: string; data?: EvalRunData };

export interface EvalSlice {
  evalCount: number;
  evalSeed: number;
  /** Problem ids picked by hand ("3, 17, 101"); empty: a seeded random sample of evalCount. */
  evalPickedIds: string;
  evalPresetId: PromptPreset["id"];
  /** The prompt sent (the preset's template until the user edits it). */
  evalPrompt: string;
  evalRoles: Record<EvalRole, boolean>;
  /** The sweep's alphas as typed: "-1, 0, 0.5, 1" or "-1:1.5:0.5"; empty: the recipe as set. */
  evalAlphas: string;
  /** Also evaluate the reversed vector (the recipe at -evalControlAlpha). */
  evalReversed: boolean;
  /** Also evaluate the random-sign control at evalControlAlpha with evalControlSeed. */
  evalRandomSign: boolean;
  evalControlAlpha: number;
  evalControlSeed: number;
  evalFormat: Qwen2OnnxFormat;
  evalProvider: EvalExecutionProvider;
  evalMaxNewTokens: number;
  /** Problems answered at once: "" or "auto" for the automatic choice, else 1..256 (checked when the run starts). */
  evalBatch: string;
  evalRun: EvalRunState;
  /** The threads the evaluation worker's onnxruntime-web runs on, as it reported them; undefined until a model has loaded. */
  evalThreads: { threads: number; crossOriginIsolated: boolean } | undefined;
  /** What the worker said the user should know (a repo without a chat template), without repeats. */
  evalNotices: string[];
  setEvalSettings: (
    settings: Partial<
      Pick<
        EvalSlice,
        "evalCount" | "evalSeed" | "evalPickedIds" | "evalPrompt" | "evalFormat" | "evalProvider" | "evalMaxNewTokens" | "evalBatch" | "evalAlphas" | "evalReversed" | "evalRandomSign" | "evalControlAlpha" | "evalControlSeed"
      >
    >,
  ) => void;
  setEvalPreset: (id: PromptPreset["id"]) => void;
  setEvalRole: (role: EvalRole, on: boolean) => void;
  startEval: () => Promise<void>;
  cancelEval: () => void;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
const isAbort = (error: unknown) => error instanceof DOMException && error.name === "AbortError";
const presetOf = (id: PromptPreset["id"]) => PROMPT_PRESETS.find((preset) => preset.id === id) ?? PROMPT_PRESETS[0]!;

/** "3, 17,101" -> [3, 17, 101]; an error naming the bad part. */
export function parseProblemIds(text: string): number[] | { error: string } {
  const parts = text.split(/[\s,]+/).filter((part) => part !== "");
  const bad = parts.find((part) => !/^\d+$/.test(part));
  if (bad !== undefined) return { error: `"${bad}" is not a problem number (a line number of the set, from 0)` };
  return parts.map(Number);
}

export const createEvalSlice: StateCreator<StudioState, [], [], EvalSlice> = (set, get) => ({
  evalCount: DEFAULT_SAMPLE_COUNT,
  evalSeed: DEFAULT_SAMPLE_SEED,
  evalPickedIds: "",
  evalPresetId: PROMPT_PRESETS[0]!.id,
  evalPrompt: PROMPT_PRESETS[0]!.template,
  evalRoles: { target: true, merged: true, plus: false, minus: false },
  evalAlphas: "",
  evalReversed: false,
  evalRandomSign: false,
  evalControlAlpha: 1,
  evalControlSeed: 0,
  evalFormat: "q8",
  evalProvider: "wasm",
  evalMaxNewTokens: 512,
  evalBatch: "",
  evalRun: { status: "idle" },
  evalThreads: undefined,
  evalNotices: [],

  setEvalSettings: (settings) => set(settings),
  setEvalPreset: (id) => set({ evalPresetId: id, evalPrompt: presetOf(id).template }),
  setEvalRole: (role, on) => set({ evalRoles: { ...get().evalRoles, [role]: on } }),

  startEval: async () => {
    const state = get();
    if (state.evalRun.status === "running") return;
    const fail = (error: string) => set({ evalRun: { status: "failed", error } });
    const built = buildMergeRequest(state);
    if ("error" in built) return fail(built.error);
    const plan = selectMergePlan(state);
    if (!plan) return fail("Reading the models' headers…");
    // Pinned to the inspected commits: each model's recipe in the report is the one a merge's merge_recipe.json records.
    const { recipe, inputs } = pinnedRequestParts(built.request, plan);
    let alphas: number[];
    try {
      alphas = parseAlphaList(state.evalAlphas);
    } catch (error) {
      return fail(`Alphas: ${message(error)}.`);
    }
    let models: EvalModelDescription[];
    try {
      models = planSweepModels(recipe, {
        models: state.evalRoles,
        alphas,
        reversed: state.evalReversed,
        randomSign: state.evalRandomSign,
        controlAlpha: state.evalControlAlpha,
        controlSeed: state.evalControlSeed,
      });
    } catch (error) {
      return fail(message(error));
    }
    if (!(Number.isInteger(state.evalMaxNewTokens) && state.evalMaxNewTokens >= 1)) return fail("Max new tokens must be a whole number of at least 1.");
    let batchSize: ReturnType<typeof parseBatchSize>;
    try {
      batchSize = parseBatchSize(state.evalBatch);
    } catch (error) {
      return fail(`Batch: ${message(error)}.`);
    }
    // The problems of a GSM8K or toy task (a custom set answers all its lines).
    let selection: ProblemSelection = { count: state.evalCount, seed: state.evalSeed };
    if (state.evalTask.kind !== "custom") {
      if (state.evalPickedIds.trim() !== "") {
        const ids = parseProblemIds(state.evalPickedIds);
        if ("error" in ids) return fail(`Problems: ${ids.error}.`);
        selection = { ids };
      } else if (!(Number.isInteger(state.evalCount) && state.evalCount >= 1)) return fail("The number of problems must be a whole number of at least 1.");
    }
    let taskSpec: Awaited<ReturnType<typeof buildEvalTaskSpec>>;
    try {
      taskSpec = await buildEvalTaskSpec(state, selection);
    } catch (error) {
      return fail(message(error));
    }
    if ("error" in taskSpec) return fail(taskSpec.error);
    // GSM8K tasks answer a sample of the test set, a toy task one of its set (in its spec); a custom set answers all its lines.
    let problems: Gsm8kProblem[] = [];
    let items: EvalRunItem[];
    let evaluatedTask: EvaluatedTask;
    try {
      if (taskSpec.kind === "lm-eval" || taskSpec.kind === "preset") {
        const all = await loadGsm8kSplit("test");
        if ("ids" in selection) problems = selectProblems(all, selection.ids);
        else {
          if (selection.count > all.length) return fail(`The number of problems must be between 1 and ${all.length}.`);
          problems = sampleProblems(all, selection.count, selection.seed);
        }
      }
      const task = await createEvalTask(taskSpec, problems);
      items = task.items.map((item) => ({ index: item.index, question: item.question, reference: task.reference(item) }));
      const sampleSeed = taskSpec.kind === "custom" || "ids" in selection ? null : selection.seed;
      evaluatedTask = describeEvaluatedTask(task, sampleSeed);
    } catch (error) {
      return fail(message(error));
    }
    const { request } = built;
    const shared: Omit<BrowserEvalRequest, "model"> = {
      hubUrl: request.hubUrl,
      ...(request.accessToken ? { accessToken: request.accessToken } : {}),
      recipe,
      inputs,
      task: taskSpec,
      problems,
      chatTemplate: state.evalChatTemplate,
      maxNewTokens: state.evalMaxNewTokens,
      format: state.evalFormat,
      executionProvider: state.evalProvider,
      batchSize,
    };
    const settings: EvalRunSettings = { format: state.evalFormat, provider: state.evalProvider, maxNewTokens: state.evalMaxNewTokens };
    const data: EvalRunData = { problems: items, task: evaluatedTask, chatTemplate: state.evalChatTemplate, models, answers: {}, runs: {}, settings };
    let job: ReturnType<typeof startBrowserEval> | undefined;
    let cancelled = false;
    const sofar = (run: EvalRunData): EvalRunData => ({
      problems: run.problems,
      task: run.task,
      chatTemplate: run.chatTemplate,
      models: run.models,
      answers: run.answers,
      runs: run.runs,
      settings: run.settings,
    });
    const cancel = () => {
      cancelled = true;
      job?.cancel();
      const run = get().evalRun;
      if (run.status === "running") set({ evalRun: { status: "cancelled", ...sofar(run) } });
    };
    set({ evalRun: { status: "running", ...data, current: undefined, live: [], cancel }, evalNotices: [] });
    try {
      // One worker per model, one after another: each ends with its model, and its memory with it.
      for (const model of models) {
        if (cancelled) return;
        const running = get().evalRun;
        if (running.status !== "running") return;
        set({ evalRun: { ...running, current: { modelId: model.id }, live: [] } });
        job = startBrowserEval({ ...shared, model }, (event) => {
          const run = get().evalRun;
          if (run.status === "running") set(applyWorkerEvent(run, event, get().evalNotices));
        });
        await job.done.catch((error: unknown) => {
          throw isAbort(error) ? error : new Error(`${model.label}: ${message(error)}`);
        });
      }
      const run = get().evalRun;
      if (run.status === "running") set({ evalRun: { status: "done", finishedAt: new Date(), ...sofar(run) } });
    } catch (error) {
      const run = get().evalRun;
      if (cancelled || run.status !== "running") return;
      set({ evalRun: isAbort(error) ? { status: "cancelled", ...sofar(run) } : { status: "failed", error: message(error), data: sofar(run) } });
    }
  },

  cancelEval: () => {
    const run = get().evalRun;
    if (run.status === "running") run.cancel();
  },
});

type RunningEval = Extract<EvalRunState, { status: "running" }>;

/** The store's update for one event of the current model's worker. */
function applyWorkerEvent(run: RunningEval, event: EvalWorkerEvent, notices: string[]): Partial<EvalSlice> {
  switch (event.type) {
    case "loading":
      return { evalRun: { ...run, current: { modelId: event.modelId, loading: event.phase }, live: [] } };
    case "threads":
      return { evalThreads: { threads: event.threads, crossOriginIsolated: event.crossOriginIsolated } };
    case "notice":
      return notices.includes(event.message) ? {} : { evalNotices: [...notices, event.message] };
    case "modelStart":
      return { evalRun: { ...run, current: { modelId: event.modelId, batchSize: event.batchSize }, live: [] } };
    case "progress":
      return run.current ? { evalRun: { ...run, current: { ...run.current, progress: event.progress } } } : {};
    case "token": {
      const { problemIndex, text, tokensPerSecond } = event;
      const known = run.live.some((live) => live.problemIndex === problemIndex);
      const live = known ? run.live.map((entry) => (entry.problemIndex === problemIndex ? { problemIndex, text, tokensPerSecond } : entry)) : [...run.live, { problemIndex, text, tokensPerSecond }];
      return { evalRun: { ...run, live } };
    }
    case "answer": {
      const order = new Map(run.problems.map((problem, position) => [problem.index, position]));
      const sorted = [...(run.answers[event.modelId] ?? []), event.result].sort((a, b) => order.get(a.problemIndex)! - order.get(b.problemIndex)!);
      return { evalRun: { ...run, answers: { ...run.answers, [event.modelId]: sorted }, live: run.live.filter((live) => live.problemIndex !== event.result.problemIndex) } };
    }
    case "modelDone":
      return { evalRun: { ...run, runs: { ...run.runs, [event.modelId]: event.stats } } };
    case "done":
    case "failed":
      return {};
  }
}
