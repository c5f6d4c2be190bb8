/// <reference types="@webgpu/types" />
import { DTYPE_BYTES } from "../dtypes.ts";
import { outputBytes } from "../numeric/wasm/wasmKernelModule.ts";
import { createSlotQueue } from "../numeric/webgpu/createSlotQueue.ts";
import { awaitGpu, describeLoss, deviceLost, GPU_STALL_MS, GpuStallError, mapForReading } from "../numeric/webgpu/awaitGpu.ts";
import { ELEMENTS_PER_INVOCATION, PARAMS_BYTES, WGSL_DTYPE_CODE, WORKGROUP_SIZE } from "../numeric/webgpu/mergeKernelWgsl.ts";
import type { WebGpuMergeKernel } from "../numeric/webgpu/requestWebGpuMergeKernel.ts";
import type { TensorRecipe } from "../recipe/TensorRecipe.ts";
import { mergeTaskElements, sliceChunk, sliceInputs, type ChunkComputer, type ChunkTask, type MergeChunkTask } from "./ChunkComputer.ts";
import type { FloatChunk } from "./mergeChunk.ts";

export interface WebGpuComputerOptions {
  /** Computes a task the GPU failed on, and every task once the GPU has failed. */
  fallback: ChunkComputer;
  /** Called once, when the GPU fails (device lost, out of memory, an error it reports, no answer in `stallMs`); later tasks run on `fallback`. */
  onGpuFailure?: (reason: string) => void;
  /** Dispatches in flight at once (default 3): one uploading, one computing, one read back. */
  slots?: number;
  /** Elements per dispatch at most (default and upper bound: the kernel's maxElements); a larger task is split. */
  maxElementsPerDispatch?: number;
  /** How long a dispatch may go without a result before the GPU counts as failed (default GPU_STALL_MS). */
  stallMs?: number;
}

/**
 * What the one-term kernel computes into elements `start` .. `start + count` - 1 of a task's
 * output: task arithmetic of target, plus and minus with `weight`, or a conversion of one input
 * (weight unused).
 */
interface GpuWork {
  kind: "merge" | "convert";
  inputs: FloatChunk[];
  weight: number;
  start: number;
  count: number;
}

/**
 * The weight of a recipe that is one task-arithmetic term without control or normalize: the
 * contract v1 formula target + w * (plus - minus), which the one-term kernel computes. Undefined for
 * every other recipe, which the recipe kernel computes.
 */
function taskArithmeticWeight(recipe: TensorRecipe): number | undefined {
  const [term] = recipe.terms;
  if (recipe.method !== "task_arithmetic" || recipe.terms.length !== 1 || !term || recipe.control || recipe.normalize) return undefined;
  return term.weight;
}

/** One set of buffers for a dispatch in flight; buffers hold 4 bytes per element, whatever the dtypes. */
interface Slot {
  capacity: number;
  buffers: GPUBuffer[];
  inputs: GPUBuffer[];
  output?: GPUBuffer;
  readback?: GPUBuffer;
  params?: GPUBuffer;
  bindGroup?: GPUBindGroup;
}

const DEFAULT_SLOTS = 3;
/**
 * How long a failed dispatch waits for `device.lost` before it names its own error: a lost device
 * first rejects the pending mapAsync calls and resolves `lost` later (in a worker in Chromium here,
 * about a second later). Only a failure waits, once per task in flight.
 */
const LOSS_GRACE_MS = 5000;
/** Smallest slot capacity in elements: small tensors share one allocation size instead of growing a slot by steps. */
const MIN_CAPACITY = 2 ** 16;

const elementCount = (chunk: FloatChunk) => chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype];
const alignTo4 = (bytes: number) => Math.ceil(bytes / 4) * 4;

/**
 * A ChunkComputer on one WebGPU device, returning the bytes computeChunkHere returns: conversions
 * and one-term task arithmetic on the kernels of mergeKernelWgsl.ts, every other recipe on the
 * recipe kernel (kernel.recipe, with slots of its own). Several compute calls are served at once, each in its own slot, so the
 * GPU and the transfers overlap: while one chunk computes, the next one's inputs are written
 * (queue.writeBuffer) and the previous one is read back (copy into a staging buffer, mapAsync).
 * Inputs are only read, never transferred, so a task the GPU fails on runs again on `fallback`;
 * after a failure every task does.
 */
export function createWebGpuComputer(kernel: WebGpuMergeKernel, options: WebGpuComputerOptions): ChunkComputer {
  const { device } = kernel;
  const maxElements = Math.min(kernel.maxElements, options.maxElementsPerDispatch ?? kernel.maxElements);
  const slots: Slot[] = Array.from({ length: options.slots ?? DEFAULT_SLOTS }, () => ({ capacity: 0, buffers: [], inputs: [] }));
  const { acquire, release } = createSlotQueue(slots);
  let failure: string | undefined;
  let closed = false;

  const fail = (reason: string) => {
    if (failure !== undefined || closed) return;
    failure = reason;
    options.onGpuFailure?.(reason);
  };
  const lost = deviceLost(device);
  lost.catch((error: Error) => fail(error.message));

  const ensureCapacity = (slot: Slot, elements: number) => {
    if (slot.capacity >= elements) return;
    for (const buffer of slot.buffers) buffer.destroy();
    const capacity = Math.min(maxElements, Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(elements))));
    const create = (label: string, size: number, usage: number) => device.createBuffer({ label, size, usage });
    const storageIn = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    slot.inputs = ["target", "plus", "minus"].map((role) => create(role, capacity * 4, storageIn));
    slot.output = create("output", capacity * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    slot.readback = create("read-back", capacity * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    slot.params = create("parameters", PARAMS_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    slot.buffers = [...slot.inputs, slot.output, slot.readback, slot.params];
    slot.bindGroup = device.createBindGroup({
      layout: kernel.layout,
      entries: [slot.params, ...slot.inputs, slot.output].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    slot.capacity = capacity;
  };

  /** Writes bytes at the start of a buffer; writeBuffer takes whole 4-byte words, so an odd tail goes in a padded word. */
  const upload = (buffer: GPUBuffer, bytes: Uint8Array) => {
    const whole = bytes.byteLength & ~3;
    // GPUAllowSharedBufferSource accepts shared memory too, but its type names only ArrayBuffer views.
    if (whole > 0) device.queue.writeBuffer(buffer, 0, bytes as Uint8Array<ArrayBuffer>, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      device.queue.writeBuffer(buffer, whole, tail);
    }
  };

  /** Computes elements [start, start + count) of a piece of work into `out` (that range of the output). */
  const dispatch = async (slot: Slot, work: GpuWork, outDtype: ChunkTask["outDtype"], start: number, count: number, out: Uint8Array) => {
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    ensureCapacity(slot, count);
    work.inputs.forEach((chunk, index) => {
      const width = DTYPE_BYTES[chunk.dtype];
      upload(slot.inputs[index]!, chunk.bytes.subarray(start * width, (start + count) * width));
    });
    const dtypes = work.kind === "merge" ? work.inputs.map((chunk) => chunk.dtype) : [0, 1, 2].map(() => work.inputs[0]!.dtype);
    const weightBits = new Uint32Array(new Float32Array([work.weight]).buffer)[0]!;
    const invocations = Math.ceil(count / ELEMENTS_PER_INVOCATION);
    const params = new Uint32Array(PARAMS_BYTES / 4);
    params.set([count, weightBits, ...dtypes.map((dtype) => WGSL_DTYPE_CODE[dtype]), WGSL_DTYPE_CODE[outDtype], invocations]);
    device.queue.writeBuffer(slot.params!, 0, params);

    const workgroups = Math.ceil(invocations / WORKGROUP_SIZE);
    const columns = Math.min(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(work.kind === "merge" ? kernel.merge : kernel.convert);
    pass.setBindGroup(0, slot.bindGroup!);
    pass.dispatchWorkgroups(columns, Math.ceil(workgroups / columns));
    pass.end();
    const outBytes = out.byteLength;
    encoder.copyBufferToBuffer(slot.output!, 0, slot.readback!, 0, alignTo4(outBytes));
    device.queue.submit([encoder.finish()]);
    const errors = [device.popErrorScope(), device.popErrorScope()];

    const readback = slot.readback!;
    const stallMs = options.stallMs ?? GPU_STALL_MS;
    await mapForReading(readback, alignTo4(outBytes), lost, stallMs);
    try {
      for (const error of await awaitGpu(Promise.all(errors), "a dispatch's error scopes", lost, stallMs)) if (error) throw new Error(`the GPU reported: ${error.message}`);
      out.set(new Uint8Array(readback.getMappedRange(0, alignTo4(outBytes)), 0, outBytes));
    } finally {
      readback.unmap();
    }
  };

  /** Computes each piece of work into its part of `out`, one after another (pieces over maxElements split). */
  const computeOnGpu = async (works: GpuWork[], outDtype: ChunkTask["outDtype"], out: Uint8Array): Promise<void> => {
    const width = DTYPE_BYTES[outDtype];
    for (const work of works) {
      for (let start = 0; start < work.count; start += maxElements) {
        const pieceCount = Math.min(maxElements, work.count - start);
        const slot = await acquire();
        try {
          // A task that waited for a slot while the GPU failed goes straight to the fallback.
          if (failure !== undefined) throw new Error(failure);
          const at = work.start + start;
          await dispatch(slot, work, outDtype, start, pieceCount, out.subarray(at * width, (at + pieceCount) * width));
        } finally {
          release(slot);
        }
      }
    }
  };

  /**
   * A merge task on the GPU: runs of one-term task arithmetic (adjacent segments of one weight
   * joined) through the one-term kernel, every other segment through the recipe kernel
   * (kernel.recipe), all at once. Settles only when every part has: a task that fails is computed
   * again on the fallback, which must not race a part still writing.
   */
  const mergeOnGpu = async (task: MergeChunkTask): Promise<Uint8Array> => {
    const count = mergeTaskElements(task);
    const width = DTYPE_BYTES[task.outDtype];
    const out = outputBytes(count * width, task.into);
    const works: GpuWork[] = [];
    const recipeParts: Promise<unknown>[] = [];
    let start = 0;
    for (const segment of task.segments) {
      const weight = taskArithmeticWeight(segment.recipe);
      const last = works.at(-1);
      if (weight === undefined) {
        const into = out.subarray(start * width, (start + segment.elements) * width);
        const inputs = sliceInputs(task, start, segment.elements);
        recipeParts.push(kernel.recipe.mergeRecipeChunk(segment.recipe, segment.statistics, inputs, segment.firstElement, task.outDtype, into));
      } else if (last && last.weight === weight && last.start + last.count === start) {
        last.count += segment.elements;
      } else {
        works.push({ kind: "merge", inputs: [], weight, start, count: segment.elements });
      }
      start += segment.elements;
    }
    const [term] = task.terms;
    for (const work of works) {
      work.inputs = [task.target, term!.plus, term!.minus].map((chunk) => sliceChunk(chunk, work.start, work.count));
    }
    const settled = await Promise.allSettled([computeOnGpu(works, task.outDtype, out), ...recipeParts]);
    for (const result of settled) if (result.status === "rejected") throw result.reason;
    return out;
  };

  /** A task on the GPU: a conversion through the one-term kernel's convert, a merge by mergeOnGpu. */
  const computeTaskOnGpu = async (task: ChunkTask): Promise<Uint8Array> => {
    if (task.kind === "merge") return mergeOnGpu(task);
    const count = elementCount(task.input);
    const out = outputBytes(count * DTYPE_BYTES[task.outDtype], task.into);
    await computeOnGpu([{ kind: "convert", inputs: [task.input], weight: 0, start: 0, count }], task.outDtype, out);
    return out;
  };

  return {
    async compute(task) {
      if (closed) throw new Error("the GPU computer was closed");
      if (failure === undefined) {
        try {
          return await computeTaskOnGpu(task);
        } catch (error) {
          if (closed) throw error;
          // A stalled GPU is not lost: nothing is worth waiting for.
          const lostInfo =
            error instanceof GpuStallError ? undefined : await Promise.race([device.lost, new Promise<undefined>((resolve) => setTimeout(resolve, LOSS_GRACE_MS))]);
          fail(lostInfo ? describeLoss(lostInfo) : error instanceof Error ? error.message : String(error));
        }
      }
      return options.fallback.compute(task);
    },
    async close() {
      closed = true;
      for (const slot of slots) for (const buffer of slot.buffers) buffer.destroy();
      device.destroy();
    },
  };
}
