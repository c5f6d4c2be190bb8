/**
 * What the WebGPU kernel tests (e2e/webgpu-kernel.spec.ts) run in the page: the GPU computer and the
 * JavaScript reference it must equal. Loaded by src/ui/merge/exposeForTests.ts on ?e2e=1 pages only.
 */
export { createWebGpuComputer } from "../../core/engine/webGpuComputer.ts";
export { convertChunk, mergeChunk } from "../../core/engine/mergeChunk.ts";
export { requestWebGpuMergeKernel } from "../../core/numeric/webgpu/requestWebGpuMergeKernel.ts";
