import type { BackendReport } from "../../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import { removeOpfsMerge } from "./mergedFiles.ts";
import { mergeFolderName } from "./mergeFolderName.ts";
import type { BrowserMergeRequest, BrowserMergeResult, MergeWorkerCommand, MergeWorkerEvent } from "../../browser/mergeWorkerMessages.ts";
import { claimMergeFolder, disownMergeFolder, reserveMergeFolder } from "./opfsMergeOwnership.ts";

export { saveToDirectory } from "./saveToDirectory.ts";
export { downloadAsZip } from "./downloadAsZip.ts";
export { discardMerge } from "./discardMerge.ts";


/** A merge that failed but left its unfinished output and journal in OPFS merges/<folder>, to be resumed. */
export class UnfinishedMergeKept extends Error {
  constructor(
    message: string,
    readonly folder: string,
  ) {
    super(message);
    this.name = "UnfinishedMergeKept";
  }
}

/**
 * Runs the core engine in a dedicated worker (workers/mergeWorker.ts), with the chunk arithmetic on
 * the GPU (WebGPU) or in a pool of max(1, hardwareConcurrency - 1) compute workers
 * (workers/chunkWorker.ts) as `request.backend` says, writing into OPFS merges/<folder>/, a folder
 * this tab owns (opfsMergeOwnership.ts) until `discardMerge`. `onBackend` hears which backend
 * computes, at the start and whenever that changes, and `onHubStatus` when reads wait on the Hub's
 * rate limit and when they resume. The merge keeps a journal there: with `resumeFolder` it
 * continues the unfinished merge of that folder (the same recipe and inputs, else it is refused).
 * Cancel removes the folder before `done` rejects with an AbortError DOMException; a failure keeps
 * an unfinished merge that has a journal (rejecting with an UnfinishedMergeKept error), left to any
 * tab to resume, and removes anything else.
 */
export function startBrowserMerge(
  request: BrowserMergeRequest,
  onProgress: (progress: MergeProgress) => void,
  onBackend?: (report: BackendReport) => void,
  { onHubStatus, resumeFolder }: { onHubStatus?: (status: HubStatus) => void; resumeFolder?: string } = {},
): { cancel(): void; done: Promise<BrowserMergeResult> } {
  let cancelled = false;
  let worker: Worker | undefined;
  const cancelledError = () => new DOMException("the merge was cancelled", "AbortError");

  const run = (folder: string) =>
    new Promise<BrowserMergeResult>((resolve, reject) => {
      worker = new Worker(new URL("../../../workers/mergeWorker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent<MergeWorkerEvent>) => {
        const message = event.data;
        if (message.type === "progress" || message.type === "backend" || message.type === "hub-status") {
          if (cancelled) return;
          if (message.type === "progress") onProgress(message.progress);
          else if (message.type === "backend") onBackend?.(message.report);
          else onHubStatus?.(message.status);
          return;
        }
        worker!.terminate();
        // A cancel that arrived as the merge completed still wins: the folder is not kept.
        if (message.type === "done" && !cancelled) resolve(message.result);
        else if (message.type === "done" || message.aborted || cancelled) reject(cancelledError());
        else reject(message.kept ? new UnfinishedMergeKept(message.message, folder) : new Error(message.message));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        worker!.terminate();
        reject(new Error(`the merge worker failed: ${event.message || "it could not be started"}`));
      };
      const start: MergeWorkerCommand = { type: "start", request, folder, resume: resumeFolder !== undefined };
      worker.postMessage(start);
      if (cancelled) worker.postMessage({ type: "cancel" } satisfies MergeWorkerCommand);
    });

  const done = (async () => {
    let folder: string;
    if (resumeFolder === undefined) folder = await reserveMergeFolder(mergeFolderName(request.inputs[request.recipe.target]!));
    else if (await claimMergeFolder(resumeFolder)) folder = resumeFolder;
    else throw new Error(`another tab is already resuming the unfinished merge ${resumeFolder}`);
    try {
      if (cancelled) throw cancelledError();
      return await run(folder);
    } catch (error) {
      if (!(error instanceof UnfinishedMergeKept)) await removeOpfsMerge(folder);
      disownMergeFolder(folder);
      throw error;
    }
  })();
  return {
    cancel() {
      cancelled = true;
      worker?.postMessage({ type: "cancel" } satisfies MergeWorkerCommand);
    },
    done,
  };
}
