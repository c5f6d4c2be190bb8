import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { BrowserMergeRequest, BrowserMergeResult } from "./browserMerge.ts";

/** From the page to workers/mergeWorker.ts. */
export type MergeWorkerCommand = { type: "start"; request: BrowserMergeRequest } | { type: "cancel" };

/** From workers/mergeWorker.ts to the page; `folder` comes as soon as the OPFS folder exists. */
export type MergeWorkerEvent =
  | { type: "progress"; progress: MergeProgress }
  | { type: "folder"; folder: string }
  | { type: "done"; result: BrowserMergeResult }
  | { type: "failed"; message: string; aborted: boolean };
