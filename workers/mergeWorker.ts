import { createBackendComputer, type BackendReport } from "../src/core/engine/createBackendComputer.ts";
import type { ChunkComputer } from "../src/core/engine/ChunkComputer.ts";
import { writeMergedModel, type MergeProgress } from "../src/core/engine/writeMergedModel.ts";
import { createWorkerPoolComputer } from "../src/core/engine/workerPoolComputer.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import { openOpfsFolderSink } from "../src/core/sinks/openOpfsFolderSink.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { TOOL_VERSION } from "../src/core/version.ts";
import type { BrowserMergeRequest, MergeWorkerCommand, MergeWorkerEvent } from "../src/browser/mergeWorkerMessages.ts";
import { recipeInputOpener } from "../src/browser/openInputSource.ts";

const scope = self as unknown as DedicatedWorkerGlobalScope;
const PROGRESS_INTERVAL_MS = 100;
const post = (event: MergeWorkerEvent) => scope.postMessage(event);

let controller: AbortController | undefined;

scope.onmessage = (event: MessageEvent<MergeWorkerCommand>) => {
  const command = event.data;
  if (command.type === "cancel") controller?.abort(new DOMException("the merge was cancelled", "AbortError"));
  else if (!controller) void run(command.request, command.folder, command.resume, (controller = new AbortController()).signal);
};

async function run(request: BrowserMergeRequest, folder: string, resume: boolean, signal: AbortSignal): Promise<void> {
  const workers = Math.max(1, navigator.hardwareConcurrency - 1);
  const pool = createWorkerPoolComputer(workers, () => new Worker(new URL("./chunkWorker.ts", import.meta.url), { type: "module" }));
  let computer: ChunkComputer | undefined;
  let backend: BackendReport = { backend: { kind: "cpu", workers } };
  let sources: ModelSource[] = [];
  let journaled = false;
  try {
    const opener = recipeInputOpener(request.inputs, { ...request, onStatus: (status) => post({ type: "hub-status", status }) });
    const opened = await openAndPlan(request.recipe, opener, signal);
    sources = opened.sources;
    const { plan } = opened;
    if (!plan.ok) {
      const errors = plan.issues.filter((issue) => issue.severity === "error");
      throw new Error(`cannot merge: ${errors.map((issue) => issue.message).join("; ")}`);
    }
    signal.throwIfAborted();
    computer = await createBackendComputer(
      request.backend ?? "auto",
      { computer: pool, workers },
      (report) => {
        backend = report;
        post({ type: "backend", report });
      },
    );
    signal.throwIfAborted();
    const sink = await openOpfsFolderSink(folder, { resume });
    journaled = true;
    let lastPosted = 0;
    let last: MergeProgress | undefined;
    const result = await writeMergedModel(plan, sink, {
      shardSize: request.shardSize,
      computer,
      signal,
      toolVersion: TOOL_VERSION,
      journal: resume ? "resume" : "start",
      onProgress: (progress) => {
        last = progress;
        const now = performance.now();
        if (now - lastPosted < PROGRESS_INTERVAL_MS) return;
        lastPosted = now;
        post({ type: "progress", progress });
      },
    });
    if (last) post({ type: "progress", progress: last });
    const { files, bytesWritten, seconds } = result;
    post({ type: "done", result: { folder, files, bytesWritten, seconds, workers, backend } });
  } catch (error) {
    post({ type: "failed", message: error instanceof Error ? error.message : String(error), aborted: signal.aborted, kept: journaled });
  } finally {
    await computer?.close?.();
    await pool.close?.();
    await Promise.all(sources.map((source) => source.close?.()));
  }
}
