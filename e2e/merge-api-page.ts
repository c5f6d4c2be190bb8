import type { BackendReport } from "../src/core/engine/createBackendComputer.ts";
import { convertChunk, mergeChunk } from "../src/core/engine/mergeChunk.ts";
import { createWebGpuComputer } from "../src/core/engine/webGpuComputer.ts";
import { requestWebGpuMergeKernel } from "../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import type { BrowserMergeRequest, BrowserMergeResult, MergeWorkerCommand, MergeWorkerEvent } from "../src/browser/mergeWorkerMessages.ts";
import { discardMerge, downloadAsZip, saveToDirectory, startBrowserMerge } from "../src/ui/merge/browserMerge.ts";
import { mergeFolderName } from "../src/ui/merge/mergeFolderName.ts";
import { reserveMergeFolder, sweepOrphanedMergesOnce } from "../src/ui/merge/opfsMergeOwnership.ts";
import type { LostGpuMergeCommand } from "./lost-gpu-merge-worker.ts";

/**
 * The page side of the specs that drive the merge API directly (e2e/browser-merge.spec.ts,
 * e2e/webgpu-merge.spec.ts, e2e/webgpu-kernel.spec.ts, the OPFS sweeps of e2e/studio-save.spec.ts and
 * e2e/studio-resume.spec.ts) and of bench/browser.ts: built and served by e2e/mergeApiPage.ts, never
 * part of the app's bundle. It exposes what the studio's merge panel calls, the WebGPU computer with
 * the JavaScript reference it must equal, and a merge whose GPU device is lost mid-way.
 */

/**
 * Merges as startBrowserMerge does, in e2e/lost-gpu-merge-worker.ts: workers/mergeWorker.ts with a GPU
 * device that destroys itself right after its `destroyGpuDeviceAfterSubmits`-th queue submit. `onBackend`
 * hears every backend report; the OPFS folder stays, for discardMerge.
 */
async function mergeLosingGpu(
  request: BrowserMergeRequest,
  destroyGpuDeviceAfterSubmits: number,
  onBackend: (report: BackendReport) => void,
): Promise<BrowserMergeResult> {
  const folder = await reserveMergeFolder(mergeFolderName(request.inputs[request.recipe.target]!));
  const worker = new Worker(new URL("./lost-gpu-merge-worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise<BrowserMergeResult>((resolve, reject) => {
      worker.onmessage = ({ data: event }: MessageEvent<MergeWorkerEvent>) => {
        if (event.type === "backend") onBackend(event.report);
        else if (event.type === "done") resolve(event.result);
        else if (event.type === "failed") reject(new Error(event.message));
      };
      worker.onerror = (event) => reject(new Error(`the merge worker failed: ${event.message}`));
      const start: MergeWorkerCommand & LostGpuMergeCommand = { type: "start", request, folder, resume: false, destroyGpuDeviceAfterSubmits };
      worker.postMessage(start);
    });
  } finally {
    worker.terminate();
  }
}

Object.assign(window, {
  __mergeStudio: {
    startBrowserMerge,
    saveToDirectory,
    downloadAsZip,
    discardMerge,
    sweepOrphanedMergesOnce,
    mergeLosingGpu,
    webGpuKernel: { requestWebGpuMergeKernel, createWebGpuComputer, mergeChunk, convertChunk },
  },
});
