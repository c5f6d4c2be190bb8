import type { BackendReport } from "../../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import type { BrowserMergeRequest, BrowserMergeResult } from "./browserMerge.ts";

/** From the page to workers/mergeWorker.ts; `folder` is the free name under OPFS merges/ to write. */
export type MergeWorkerCommand = { type: "start"; request: BrowserMergeRequest; folder: string } | { type: "cancel" };

/** From workers/mergeWorker.ts to the page. */
export type MergeWorkerEvent =
  | { type: "progress"; progress: MergeProgress }
  | { type: "backend"; report: BackendReport }
  | { type: "hub-status"; status: HubStatus }
  | { type: "done"; result: BrowserMergeResult }
  | { type: "failed"; message: string; aborted: boolean };
