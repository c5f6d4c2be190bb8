/// <reference types="@webgpu/types" />
import { awaitGpu, deviceLost, GPU_STALL_MS, GpuLostError, GpuStallError, NOT_LOST } from "./awaitGpu.ts";
import { createWebGpuRecipeKernel, type WebGpuRecipeKernel } from "./createWebGpuRecipeKernel.ts";
import { ELEMENTS_PER_INVOCATION, MERGE_KERNEL_WGSL, WORKGROUP_SIZE } from "./mergeKernelWgsl.ts";

/** The merge kernels compiled on one GPU device, which a whole merge uses. */
export interface WebGpuMergeKernel {
  device: GPUDevice;
  /** The adapter in words, e.g. "NVIDIA GeForce RTX 4090" or "google swiftshader". */
  adapterName: string;
  /** A software adapter (SwiftShader, WARP): it computes on the CPU. */
  software: boolean;
  layout: GPUBindGroupLayout;
  merge: GPUComputePipeline;
  convert: GPUComputePipeline;
  /** Most elements one dispatch may cover: each buffer holds 4 bytes per element, within the device's limits. */
  maxElements: number;
  /** The recipe kernel (recipe v2, any number of terms) on the same device. */
  recipe: WebGpuRecipeKernel;
}

export type WebGpuMergeKernelRequest = { kernel: WebGpuMergeKernel } | { unavailable: string };

/**
 * Elements per dispatch at most, whatever the limits allow: 16 MiB per buffer, so that a slot (three
 * inputs, an output and a read-back buffer) stays under 80 MiB. The engine's chunks (2 or 8 MiB of
 * input) fit in one dispatch.
 */
const MAX_ELEMENTS = 2 ** 22;
/**
 * Elements per dispatch at most on a software adapter, which computes on the CPU: SwiftShader takes
 * seconds over 2^22 elements of a TIES recipe (emulated float arithmetic), and a browser may lose a
 * device whose work runs that long; 2^18 keeps each dispatch to a sixteenth of that.
 */
const SOFTWARE_MAX_ELEMENTS = 2 ** 18;

/**
 * Opens a GPU device and compiles the merge kernels on it, or says why there is none. `gpu` is the
 * page's or worker's `navigator.gpu`; undefined where WebGPU does not exist (Node, older browsers).
 * A GPU that gives no answer within `stallMs` (default GPU_STALL_MS) while it opens or compiles, or
 * whose device is lost meanwhile, is unavailable too: the merge then runs on the CPU. A kernel that
 * does not compile is an internal error, thrown.
 */
export async function requestWebGpuMergeKernel(
  gpu: GPU | undefined = globalThis.navigator?.gpu,
  options: { stallMs?: number } = {},
): Promise<WebGpuMergeKernelRequest> {
  if (!gpu) return { unavailable: "this browser has no WebGPU" };
  const stallMs = options.stallMs ?? GPU_STALL_MS;
  let adapter: GPUAdapter | null = null;
  let device: GPUDevice;
  try {
    adapter = await awaitGpu(gpu.requestAdapter(), "the request for an adapter", NOT_LOST, stallMs);
    if (!adapter) return { unavailable: "no GPU adapter was found" };
    device = await awaitGpu(adapter.requestDevice(), "the request for a device", NOT_LOST, stallMs);
  } catch (error) {
    if (error instanceof GpuStallError) return { unavailable: error.message };
    return { unavailable: `the GPU refused ${adapter ? "a device" : "an adapter"}: ${error instanceof Error ? error.message : String(error)}` };
  }
  try {
    return { kernel: await compileMergeKernels(adapter.info, device, stallMs) };
  } catch (error) {
    device.destroy();
    if (error instanceof GpuStallError || error instanceof GpuLostError) return { unavailable: error.message };
    throw error;
  }
}

/** The merge kernels (one-term merge and convert, the recipe kernel) compiled on `device`. */
async function compileMergeKernels(info: GPUAdapterInfo, device: GPUDevice, stallMs: number): Promise<WebGpuMergeKernel> {
  const lost = deviceLost(device);
  const module = device.createShaderModule({ label: "merge kernels", code: MERGE_KERNEL_WGSL });
  const errors = (await awaitGpu(module.getCompilationInfo(), "compiling the merge kernels", lost, stallMs)).messages.filter((message) => message.type === "error");
  if (errors.length > 0) {
    throw new Error(`internal: the merge kernels do not compile: ${errors.map((error) => `${error.lineNum}:${error.linePos} ${error.message}`).join("; ")}`);
  }
  const storage = (type: GPUBufferBindingType, binding: number): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  const layout = device.createBindGroupLayout({
    label: "merge kernels",
    entries: [storage("uniform", 0), storage("read-only-storage", 1), storage("read-only-storage", 2), storage("read-only-storage", 3), storage("storage", 4)],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const [merge, convert] = await awaitGpu(
    Promise.all(["merge", "convert"].map((entryPoint) => device.createComputePipelineAsync({ label: entryPoint, layout: pipelineLayout, compute: { module, entryPoint } }))),
    "compiling the merge kernels",
    lost,
    stallMs,
  );
  const software = info.isFallbackAdapter === true;
  const { limits } = device;
  const maxElements = Math.min(
    software ? SOFTWARE_MAX_ELEMENTS : MAX_ELEMENTS,
    Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / 4),
    limits.maxComputeWorkgroupsPerDimension ** 2 * WORKGROUP_SIZE * ELEMENTS_PER_INVOCATION,
  );
  const adapterName = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || "unnamed adapter";
  const recipe = await createWebGpuRecipeKernel(device, { stallMs, ...(software ? { maxElementsPerDispatch: SOFTWARE_MAX_ELEMENTS } : {}) });
  return { device, adapterName, software, layout, merge: merge!, convert: convert!, maxElements, recipe };
}
