import type { BackendReport } from "../../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import type { BrowserMergeRequest, BrowserMergeResult } from "./browserMerge.ts";

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
