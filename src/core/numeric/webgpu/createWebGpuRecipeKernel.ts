/// <reference types="@webgpu/types" />
import { DTYPE_BYTES, type FloatDtype } from "../../dtypes.ts";
import type { FloatChunk } from "../../engine/mergeChunk.ts";
import { termNeedsMagnitudeStatistics, type MagnitudeStatistics } from "../../recipe/magnitudeStatistics.ts";
import type { RecipeChunkInputs, RecipeChunkMerge } from "../../recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../../recipe/TensorRecipe.ts";
import { outputBytes } from "../wasm/wasmKernelModule.ts";
import { packRecipeDispatch, type RecipeInputDtypes } from "./packRecipeDispatch.ts";
import { createSlotQueue } from "./createSlotQueue.ts";
import { awaitGpu, deviceLost, GPU_STALL_MS, mapForReading } from "./awaitGpu.ts";
import {
  KEEP_KIND,
  RECIPE_ELEMENTS_PER_INVOCATION,
  RECIPE_KERNEL_WGSL,
  RECIPE_PARAMS_BYTES,
  RECIPE_WORKGROUP_SIZE,
  type RecipePipelineConstants,
} from "./recipeKernelWgsl.ts";

export interface WebGpuRecipeKernelOptions {
  /** Dispatches in flight at once (default 3): while one computes, the next one's inputs are written and the previous one is read back. */
  slots?: number;
  /** Elements per dispatch at most (default and upper bound: what the device's limits allow); a larger chunk is split. */
  maxElementsPerDispatch?: number;
  /** How long a GPU operation (a compile, a dispatch) may go without an answer before it fails as a stalled GPU (default GPU_STALL_MS). */
  stallMs?: number;
}

/** The recipe kernel compiled on one GPU device. */
export interface WebGpuRecipeKernel {
  /**
   * mergeRecipeChunk of src/core/recipe on the GPU: the same arguments, the same bytes. Calls may
   * overlap (each dispatch takes one of the slots); a chunk larger than a dispatch is split.
   * Rejects when the GPU reports an error, the device is lost or it stalls: the caller computes the chunk
   * elsewhere (its inputs are only read).
   */
  mergeRecipeChunk(...args: Parameters<RecipeChunkMerge>): Promise<Uint8Array>;
  /** Most elements one dispatch covers with this many terms (the inputs share one storage buffer). */
  maxElementsPerDispatch(termCount: number): number;
  /** Frees the kernel's buffers; the device stays open (it is the caller's). */
  destroy(): void;
}

/** Elements per dispatch at most, whatever the limits allow, as the one-term kernel (requestWebGpuMergeKernel). */
const MAX_ELEMENTS = 2 ** 22;
const DEFAULT_SLOTS = 3;
/** Smallest buffer, in bytes: small chunks share one allocation size instead of growing a slot by steps. */
const MIN_BUFFER_BYTES = 2 ** 18;

interface SlotBuffer {
  buffer?: GPUBuffer;
  size: number;
}

/** One set of buffers for a dispatch in flight. */
interface Slot {
  params: GPUBuffer;
  terms: SlotBuffer;
  inputs: SlotBuffer;
  output: SlotBuffer;
  readback: SlotBuffer;
  bindGroup?: GPUBindGroup;
}

const elementCount = (chunk: FloatChunk) => chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype];
const alignTo4 = (bytes: number) => Math.ceil(bytes / 4) * 4;

/**
 * Compiles the recipe kernel (recipeKernelWgsl.ts) on `device` and returns its host: for each chunk
 * it packs the recipe's per-tensor numbers (packRecipeDispatch), writes the inputs into one storage
 * buffer, dispatches, and reads the output back. DOM-free: it needs only a GPUDevice (a page's, a
 * worker's, or Dawn's under Node) and the WebGPU globals (GPUBufferUsage, GPUMapMode, GPUShaderStage).
 */
export async function createWebGpuRecipeKernel(device: GPUDevice, options: WebGpuRecipeKernelOptions = {}): Promise<WebGpuRecipeKernel> {
  const stallMs = options.stallMs ?? GPU_STALL_MS;
  const lost = deviceLost(device);

  const module = device.createShaderModule({ label: "recipe kernel", code: RECIPE_KERNEL_WGSL });
  const errors = (await awaitGpu(module.getCompilationInfo(), "compiling the recipe kernel", lost, stallMs)).messages.filter((message) => message.type === "error");
  if (errors.length > 0) {
    throw new Error(`internal: the recipe kernel does not compile: ${errors.map((error) => `${error.lineNum}:${error.linePos} ${error.message}`).join("; ")}`);
  }
  const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  const layout = device.createBindGroupLayout({
    label: "recipe kernel",
    entries: [entry(0, "uniform"), entry(1, "read-only-storage"), entry(2, "read-only-storage"), entry(3, "storage")],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  /** One pipeline per set of steps (RecipePipelineConstants), compiled on first use; each wait for one is awaitGpu's. */
  const pipelines = new Map<string, Promise<GPUComputePipeline>>();
  const pipelineFor = (constants: RecipePipelineConstants): Promise<GPUComputePipeline> => {
    const key = JSON.stringify(constants);
    let pipeline = pipelines.get(key);
    if (!pipeline) {
      pipeline = device.createComputePipelineAsync({
        label: `recipe kernel ${key}`,
        layout: pipelineLayout,
        compute: { module, entryPoint: "merge_recipe", constants: { ...constants } },
      });
      pipelines.set(key, pipeline);
    }
    return awaitGpu(pipeline, `compiling the recipe kernel (${key})`, lost, stallMs);
  };
  // The commonest one, so that a first error in the kernel shows here.
  await pipelineFor({ CONSENSUS: 0, NORMALIZE: 0, SPARSE_KEEP: KEEP_KIND.all });

  const { limits } = device;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const maxInvocations = limits.maxComputeWorkgroupsPerDimension ** 2 * RECIPE_WORKGROUP_SIZE;
  const maxElementsPerDispatch = (termCount: number) =>
    Math.min(
      options.maxElementsPerDispatch ?? MAX_ELEMENTS,
      MAX_ELEMENTS,
      // The inputs' buffer holds 4 bytes per element of each input at most (F32).
      Math.floor(maxBinding / (4 * (1 + 2 * termCount))),
      maxInvocations * RECIPE_ELEMENTS_PER_INVOCATION,
    );

  const slots: Slot[] = Array.from({ length: options.slots ?? DEFAULT_SLOTS }, () => ({
    params: device.createBuffer({ label: "recipe parameters", size: RECIPE_PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
    terms: { size: 0 },
    inputs: { size: 0 },
    output: { size: 0 },
    readback: { size: 0 },
  }));
  const { acquire, release } = createSlotQueue(slots);

  /** Grows a slot's buffer to hold `bytes` (to the next power of two); true when it was replaced. */
  const ensure = (slot: Slot, which: "terms" | "inputs" | "output" | "readback", bytes: number, usage: number): boolean => {
    const held = slot[which];
    if (held.size >= bytes) return false;
    held.buffer?.destroy();
    const size = Math.max(bytes, Math.min(Math.max(MIN_BUFFER_BYTES, 2 ** Math.ceil(Math.log2(bytes))), maxBinding));
    held.buffer = device.createBuffer({ label: `recipe ${which}`, size, usage });
    held.size = size;
    return true;
  };

  /** Writes bytes at a word offset of a buffer; writeBuffer takes whole 4-byte words, so an odd tail goes in a padded word. */
  const upload = (buffer: GPUBuffer, offsetWords: number, bytes: Uint8Array) => {
    const whole = bytes.byteLength & ~3;
    // GPUAllowSharedBufferSource accepts shared memory too, but its type names only ArrayBuffer views.
    if (whole > 0) device.queue.writeBuffer(buffer, offsetWords * 4, bytes as Uint8Array<ArrayBuffer>, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      device.queue.writeBuffer(buffer, offsetWords * 4 + whole, tail);
    }
  };

  /** Computes elements [start, start + count) of a chunk into `out` (that range of the output). */
  const dispatch = async (
    slot: Slot,
    recipe: TensorRecipe,
    stats: MagnitudeStatistics | undefined,
    inputs: RecipeChunkInputs,
    dtypes: RecipeInputDtypes,
    outDtype: FloatDtype,
    firstElement: number,
    start: number,
    count: number,
    out: Uint8Array,
  ) => {
    const packed = packRecipeDispatch(recipe, stats, dtypes, outDtype, firstElement + start, count);
    const pipeline = await pipelineFor(packed.constants);
    const outBytes = out.byteLength;
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    const storageIn = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const replaced = [
      ensure(slot, "terms", packed.terms.byteLength, storageIn),
      ensure(slot, "inputs", packed.inputWords * 4, storageIn),
      ensure(slot, "output", alignTo4(outBytes), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC),
    ];
    ensure(slot, "readback", alignTo4(outBytes), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    if (!slot.bindGroup || replaced.some(Boolean)) {
      slot.bindGroup = device.createBindGroup({
        layout,
        entries: [slot.params, slot.terms.buffer!, slot.inputs.buffer!, slot.output.buffer!].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
    }
    device.queue.writeBuffer(slot.params, 0, packed.params);
    device.queue.writeBuffer(slot.terms.buffer!, 0, packed.terms);
    const chunks = [inputs.target, ...inputs.terms.flatMap((term) => [term.plus, term.minus])];
    chunks.forEach((chunk, index) => {
      const width = DTYPE_BYTES[chunk.dtype];
      upload(slot.inputs.buffer!, packed.inputOffsets[index]!, chunk.bytes.subarray(start * width, (start + count) * width));
    });

    const workgroups = Math.ceil(Math.ceil(count / RECIPE_ELEMENTS_PER_INVOCATION) / RECIPE_WORKGROUP_SIZE);
    const columns = Math.min(workgroups, limits.maxComputeWorkgroupsPerDimension);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, slot.bindGroup);
    pass.dispatchWorkgroups(columns, Math.ceil(workgroups / columns));
    pass.end();
    encoder.copyBufferToBuffer(slot.output.buffer!, 0, slot.readback.buffer!, 0, alignTo4(outBytes));
    device.queue.submit([encoder.finish()]);
    const scopes = [device.popErrorScope(), device.popErrorScope()];

    const readback = slot.readback.buffer!;
    await mapForReading(readback, alignTo4(outBytes), lost, stallMs);
    try {
      for (const error of await awaitGpu(Promise.all(scopes), "a dispatch's error scopes", lost, stallMs)) if (error) throw new Error(`the GPU reported: ${error.message}`);
      out.set(new Uint8Array(readback.getMappedRange(0, alignTo4(outBytes)), 0, outBytes));
    } finally {
      readback.unmap();
    }
  };

  return {
    async mergeRecipeChunk(recipe, stats, inputs, firstElement, outDtype, into) {
      const terms = recipe.terms;
      const name = recipe.tensorName;
      if (inputs.terms.length !== terms.length) throw new Error(`internal: tensor ${name}: ${inputs.terms.length} term chunks for ${terms.length} terms`);
      const count = elementCount(inputs.target);
      for (const { plus, minus } of inputs.terms) {
        if (elementCount(plus) !== count || elementCount(minus) !== count) {
          throw new Error(`internal: tensor ${name}: chunk sizes differ (target ${count}, plus ${elementCount(plus)}, minus ${elementCount(minus)} elements)`);
        }
      }
      if (stats && (stats.terms.length !== terms.length || firstElement + count > stats.numel)) {
        throw new Error(
          `internal: tensor ${name}: statistics of ${stats.terms.length} terms over ${stats.numel} elements ` +
            `do not fit a chunk of ${terms.length} terms at elements ${firstElement} .. ${firstElement + count - 1}`,
        );
      }
      if (terms.some((term, j) => termNeedsMagnitudeStatistics(recipe, term) && !stats?.terms[j])) {
        throw new Error(`internal: tensor ${name}: magnitude statistics missing`);
      }
      const dtypes: RecipeInputDtypes = { target: inputs.target.dtype, terms: inputs.terms.map((term) => ({ plus: term.plus.dtype, minus: term.minus.dtype })) };
      const width = DTYPE_BYTES[outDtype];
      const out = outputBytes(count * width, into);
      const step = maxElementsPerDispatch(terms.length);
      const pieces: Promise<void>[] = [];
      for (let start = 0; start < count; start += step) {
        const pieceCount = Math.min(step, count - start);
        pieces.push(
          acquire().then(async (slot) => {
            try {
              await dispatch(slot, recipe, stats, inputs, dtypes, outDtype, firstElement, start, pieceCount, out.subarray(start * width, (start + pieceCount) * width));
            } finally {
              release(slot);
            }
          }),
        );
      }
      await Promise.all(pieces);
      return out;
    },
    maxElementsPerDispatch,
    destroy() {
      for (const slot of slots) {
        slot.params.destroy();
        for (const held of [slot.terms, slot.inputs, slot.output, slot.readback]) held.buffer?.destroy();
      }
    },
  };
}
