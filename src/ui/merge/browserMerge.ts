import type { FloatDtype } from "../../core/dtypes.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { VocabMode } from "../../core/plan/planMerge.ts";
import type { WrittenFile } from "../../core/sinks/FolderSink.ts";
import { removeOpfsMerge } from "./mergedFiles.ts";
import type { MergeWorkerCommand, MergeWorkerEvent } from "./mergeWorkerMessages.ts";

export { saveToDirectory } from "./saveToDirectory.ts";
export { downloadAsZip } from "./downloadAsZip.ts";
export { discardMerge } from "./discardMerge.ts";

export type InputSpec = { kind: "hub"; repo: string; revision?: string } | { kind: "files"; label: string; files: File[] };

export interface BrowserMergeRequest {
  hubUrl: string;
  accessToken?: string;
  inputs: { target: InputSpec; plus: InputSpec; minus: InputSpec };
  alpha: number;
  outDtype?: FloatDtype;
  shardSize: number;
  vocab: VocabMode;
}

export interface BrowserMergeResult {
  /** Its folder under merges/ in the origin private file system. */
  folder: string;
  files: Record<string, WrittenFile>;
  bytesWritten: number;
  seconds: number;
  /** Compute workers the merge ran its arithmetic on. */
  workers: number;
}

/**
 * Runs the core engine in a dedicated worker (workers/mergeWorker.ts), with the chunk arithmetic in
 * a pool of max(1, hardwareConcurrency - 1) compute workers (workers/chunkWorker.ts), writing into
 * OPFS merges/<folder>/. Cancel or failure removes that folder before `done` rejects (with an
 * AbortError DOMException after cancel).
 */
export function startBrowserMerge(request: BrowserMergeRequest, onProgress: (progress: MergeProgress) => void): { cancel(): void; done: Promise<BrowserMergeResult> } {
  const worker = new Worker(new URL("../../../workers/mergeWorker.ts", import.meta.url), { type: "module" });
  const send = (command: MergeWorkerCommand) => worker.postMessage(command);
  let cancelled = false;
  let folder: string | undefined;
  const cancelledError = () => new DOMException("the merge was cancelled", "AbortError");

  const done = new Promise<BrowserMergeResult>((resolve, reject) => {
    const finish = (outcome: () => void) => {
      worker.terminate();
      outcome();
    };
    worker.onmessage = (event: MessageEvent<MergeWorkerEvent>) => {
      const message = event.data;
      if (message.type === "progress") {
        if (!cancelled) onProgress(message.progress);
      } else if (message.type === "folder") {
        folder = message.folder;
      } else if (message.type === "done") {
        // A cancel that arrived as the merge completed still wins: the folder is not kept.
        if (cancelled) finish(() => removeOpfsMerge(message.result.folder).then(() => reject(cancelledError()), reject));
        else finish(() => resolve(message.result));
      } else {
        finish(() => reject(message.aborted ? cancelledError() : new Error(message.message)));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`the merge worker failed: ${event.message || "it could not be started"}`);
      finish(() => (folder ? removeOpfsMerge(folder) : Promise.resolve()).finally(() => reject(error)));
    };
  });
  send({ type: "start", request });
  return {
    cancel() {
      cancelled = true;
      send({ type: "cancel" });
    },
    done,
  };
}
