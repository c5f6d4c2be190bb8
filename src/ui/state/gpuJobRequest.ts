import { TOOL_VERSION } from "../../core/version.ts";
import type { Gsm8kProblem } from "../../eval/gsm8k/parseGsm8k.ts";
import { sampleProblems, selectProblems } from "../../eval/gsm8k/sampleProblems.ts";
import type { GpuJobOptions, LmEvalTaskName } from "../../eval/job/renderGpuJob.ts";
import { parseAlphaList } from "../../eval/sweep/parseAlphaList.ts";
import { parseProblemIds, type EvalRunData } from "./evalSlice.ts";
import { buildMergeRequest } from "./mergeSlice.ts";
import { localFolderSpecs } from "./modelInput.ts";
import { pinnedRequestParts } from "./pinnedRequestParts.ts";
import { oneVectorAlpha } from "./recipeDraft.ts";
import { selectMergePlan } from "./selectMergePlan.ts";
import type { StudioState } from "./studioStore.ts";
import { sweepBaseRecipe } from "./sweepModels.ts";

/** The lm-eval task the panel has chosen, which a GPU job can run, or why the panel's task cannot be exported. */
export function gpuJobTask(state: Pick<StudioState, "evalTask">): { task: LmEvalTaskName } | { reason: string } {
  const choice = state.evalTask;
  if (choice.kind === "lm-eval") return { task: choice.name };
  const what = choice.kind === "custom" ? "A custom set" : choice.kind === "toy" ? "A toy task" : "A prompt preset";
  return { reason: `${what} has no lm-evaluation-harness task: choose gsm8k, gsm8k_cot or gsm8k_cot_zeroshot in the task picker to export a GPU job.` };
}

/** The last run's data, if a run has started (its problems are chosen when it starts). */
function lastRunData(state: Pick<StudioState, "evalRun">): EvalRunData | undefined {
  const run = state.evalRun;
  if (run.status === "idle") return undefined;
  return run.status === "failed" ? run.data : run;
}

/** A GPU job's options from the Evaluate panel, words for where its problems come from, and the local folders it names. */
export interface GpuJobRequest {
  options: GpuJobOptions;
  problemsFrom: string;
  /** Models picked from local folders: a page knows them by their folder's name only, which the job's configs and run.sh use as their path. */
  localFolders: string[];
}

/**
 * What "Export as a GPU job" renders (renderGpuJob): the recipe as the sweep scales it (one-vector
 * recipe at weight 1, else as written; Hub inputs pinned to their inspected commits), the sweep's
 * alphas or else the recipe's own, the chosen lm-eval task, the chat template switch and max new
 * tokens, and the problems of the last run on GSM8K's test split, else the panel's sample (its
 * picked ids, or its seeded draw of N). Throws the reason the panel's settings cannot make one.
 */
export async function buildGpuJobRequest(state: StudioState, loadTestSet: () => Promise<Gsm8kProblem[]>): Promise<GpuJobRequest> {
  const chosen = gpuJobTask(state);
  if ("reason" in chosen) throw new Error(chosen.reason);
  const built = buildMergeRequest(state);
  if ("error" in built) throw new Error(built.error);
  const plan = selectMergePlan(state);
  if (!plan) throw new Error("Reading the models' headers…");
  const { recipe } = pinnedRequestParts(built.request, plan);
  let alphas: number[];
  try {
    alphas = parseAlphaList(state.evalAlphas);
  } catch (error) {
    throw new Error(`Alphas: ${error instanceof Error ? error.message : String(error)}.`, { cause: error });
  }
  if (alphas.length === 0) alphas = [oneVectorAlpha(recipe) ?? 1];
  const localFolders = localFolderSpecs(built.request.inputs);
  const options = { recipe: sweepBaseRecipe(recipe), alphas, tasks: [chosen.task], chatTemplate: state.evalChatTemplate, maxGenToks: state.evalMaxNewTokens, toolVersion: TOOL_VERSION };
  const run = lastRunData(state);
  if (run?.task.dataset.kind === "hub") {
    return { options: { ...options, problemIndices: run.task.problemIndices }, problemsFrom: `the ${run.task.problemIndices.length} problems of the last run`, localFolders };
  }
  const all = await loadTestSet();
  if (state.evalPickedIds.trim() !== "") {
    const ids = parseProblemIds(state.evalPickedIds);
    if ("error" in ids) throw new Error(`Problems: ${ids.error}.`);
    return { options: { ...options, problemIndices: selectProblems(all, ids).map((problem) => problem.index) }, problemsFrom: `the ${ids.length} problems picked`, localFolders };
  }
  if (!(Number.isInteger(state.evalCount) && state.evalCount >= 1 && state.evalCount <= all.length)) throw new Error(`The number of problems must be between 1 and ${all.length}.`);
  const problemIndices = sampleProblems(all, state.evalCount, state.evalSeed).map((problem) => problem.index);
  return { options: { ...options, problemIndices }, problemsFrom: `the panel's sample of ${state.evalCount} problems (seed ${state.evalSeed})`, localFolders };
}
