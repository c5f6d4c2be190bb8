import type { BackendReport } from "../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../core/engine/writeMergedModel.ts";
import type { HubStatus } from "../core/sources/hubStatus.ts";
import type { BackendChoice } from "../core/engine/createBackendComputer.ts";
import type { MergeRecipe } from "../core/recipe/MergeRecipe.ts";
import type { WrittenFile } from "../core/sinks/FolderSink.ts";

export type InputSpec = { kind: "hub"; repo: string; revision?: string } | { kind: "files"; label: string; files: File[] };

export interface BrowserMergeRequest {
  hubUrl: string;
  accessToken?: string;
  recipe: MergeRecipe;
  /** What each model spec of the recipe (target, every plus and minus) opens, keyed by the spec as the recipe writes it. */
  inputs: Record<string, InputSpec>;
  shardSize: number;
  /** Where the chunk arithmetic runs (default "auto": the GPU when calibration finds it not slower). */
  backend?: BackendChoice;
}

export interface BrowserMergeResult {
  /** Its folder under merges/ in the origin private file system. */
  folder: string;
  files: Record<string, WrittenFile>;
  bytesWritten: number;
  seconds: number;
  /** Compute workers of the CPU pool (which computes when the GPU does not). */
  workers: number;
  /** The backend that computed last, and what happened to the GPU if anything did. */
  backend: BackendReport;
}

/**
 * From the page to workers/mergeWorker.ts; `folder` is the name under OPFS merges/ to write: a free
 * one, or with `resume` the folder of an unfinished merge to continue (its journal says where).
 */
export type MergeWorkerCommand = { type: "start"; request: BrowserMergeRequest; folder: string; resume: boolean } | { type: "cancel" };

/** From workers/mergeWorker.ts to the page. */
export type MergeWorkerEvent =
  | { type: "progress"; progress: MergeProgress }
  | { type: "backend"; report: BackendReport }
  | { type: "hub-status"; status: HubStatus }
  | { type: "done"; result: BrowserMergeResult }
  /** `kept`: the unfinished merge and its journal stay in OPFS, to be resumed. */
  | { type: "failed"; message: string; aborted: boolean; kept: boolean };
