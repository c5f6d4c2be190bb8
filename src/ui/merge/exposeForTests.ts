import { discardMerge, downloadAsZip, saveToDirectory, startBrowserMerge } from "./browserMerge.ts";
import { sweepOrphanedMergesOnce } from "./opfsMergeOwnership.ts";

/**
 * End-to-end tests and the browser bench drive the merge API directly, on pages opened with ?e2e=1
 * only; the WebGPU kernel tests load the kernel and its reference on demand, outside the app's bundle.
 */
if (new URLSearchParams(window.location.search).get("e2e") === "1") {
  const loadWebGpuKernelForTests = () => import("./webGpuKernelForTests.ts");
  Object.assign(window, { __mergeStudio: { startBrowserMerge, saveToDirectory, downloadAsZip, discardMerge, sweepOrphanedMergesOnce, loadWebGpuKernelForTests } });
}
