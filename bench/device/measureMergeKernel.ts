/// <reference types="@webgpu/types" />
import type { ChunkComputer } from "../../src/core/engine/ChunkComputer.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { oneTermTask } from "../../test/helpers/oneVectorRecipe.ts";
import { ELEMENTS_PER_INVOCATION, PARAMS_BYTES, WGSL_DTYPE_CODE, WORKGROUP_SIZE } from "../../src/core/numeric/webgpu/mergeKernelWgsl.ts";
import type { WebGpuMergeKernel } from "../../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";

const ALPHA = 0.7;
const BF16_BYTES = 2;

/** Weight-like bf16 values (normal floats around +-0.05). */
function bf16Weights(elements: number): FloatChunk {
  const values = Float32Array.from({ length: elements }, () => (Math.random() - 0.5) * 0.1);
  return { dtype: "BF16", bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, "BF16") };
}

export interface StreamMeasurement {
  inputBytesPerRole: number;
  chunkBytes: number;
  tasksInFlight: number;
  seconds: number;
  /** Bytes of the merged output (bf16) per second. */
  outputBytesPerSecond: number;
  /** Bytes of target, plus and minus together per second. */
  inputBytesPerSecond: number;
  /** The first and last chunks' output equal mergeChunk's. */
  spotChecksEqual: boolean;
}

/**
 * A bf16 merge's arithmetic streamed through the computer as writeMergedModel drives it: chunks of
 * `chunkBytes` per input, `tasksInFlight` compute calls at once (the engine's read-ahead of 3, plus
 * the chunk it computes), each output into a reused buffer, until `inputBytesPerRole` of each input
 * went through (upload, compute and read-back). The inputs cycle over a few distinct chunks, each
 * uploaded again every time, as a merge uploads every chunk.
 */
export async function measureStream(computer: ChunkComputer, inputBytesPerRole: number, chunkBytes: number, tasksInFlight: number): Promise<StreamMeasurement> {
  const elements = chunkBytes / BF16_BYTES;
  const distinct = Array.from({ length: 4 }, () => ({ target: bf16Weights(elements), plus: bf16Weights(elements), minus: bf16Weights(elements) }));
  const tasks = Math.ceil(inputBytesPerRole / chunkBytes);
  const outputs = Array.from({ length: tasksInFlight }, () => new Uint8Array(chunkBytes));
  const run = (index: number, into: Uint8Array) => {
    const { target, plus, minus } = distinct[index % distinct.length]!;
    return computer.compute(oneTermTask(ALPHA, target, plus, minus, "BF16", into));
  };
  const spotCheck = async (index: number) => {
    const { target, plus, minus } = distinct[index % distinct.length]!;
    const gpu = await run(index, new Uint8Array(chunkBytes));
    return Buffer.from(gpu).equals(mergeChunk(ALPHA, target, plus, minus, "BF16"));
  };
  // Warm-up: allocates the computer's slots at this chunk size.
  await Promise.all(outputs.map((into, index) => run(index, into)));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    outputs.map(async (into) => {
      while (next < tasks) await run(next++, into);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const spotChecksEqual = (await spotCheck(0)) && (await spotCheck(tasks - 1));
  const streamed = tasks * chunkBytes;
  return {
    inputBytesPerRole: streamed,
    chunkBytes,
    tasksInFlight,
    seconds,
    outputBytesPerSecond: streamed / seconds,
    inputBytesPerSecond: (3 * streamed) / seconds,
    spotChecksEqual,
  };
}

export interface ResidentMeasurement {
  elementsPerRole: number;
  elementsPerDispatch: number;
  dispatches: number;
  /** Best of the timed runs: submit to onSubmittedWorkDone. */
  seconds: number;
  outputBytesPerSecond: number;
  inputBytesPerSecond: number;
}

/**
 * The merge kernel alone on buffers already on the GPU: bf16 target, plus and minus of
 * `elementsPerRole` each (one buffer per role, as large as the device allows, bound a dispatch's
 * slice at a time so that the working set is far larger than any cache), merged into a bf16
 * output by dispatches of the kernel's maximum size, all in one submission, timed from submit to
 * onSubmittedWorkDone, best of `runs`. The dispatch is the one webGpuComputer makes.
 */
export async function measureResidentKernel(kernel: WebGpuMergeKernel, elementsPerRole: number, runs: number): Promise<ResidentMeasurement> {
  const { device } = kernel;
  const perDispatch = kernel.maxElements;
  const sliceBytes = perDispatch * BF16_BYTES;
  const slicesPerBuffer = Math.max(1, Math.min(Math.floor(device.limits.maxBufferSize / sliceBytes), Math.ceil((elementsPerRole * BF16_BYTES) / sliceBytes)));
  const dispatches = Math.ceil(elementsPerRole / perDispatch);
  const roles = ["target", "plus", "minus", "output"].map((label) =>
    device.createBuffer({ label, size: slicesPerBuffer * sliceBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }),
  );
  const params = device.createBuffer({ label: "parameters", size: PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  try {
    for (const buffer of roles.slice(0, 3)) {
      const values = new Uint8Array(bf16Weights(perDispatch).bytes);
      for (let slice = 0; slice < slicesPerBuffer; slice++) device.queue.writeBuffer(buffer, slice * sliceBytes, values);
    }
    const alphaBits = new Uint32Array(new Float32Array([ALPHA]).buffer)[0]!;
    const invocations = Math.ceil(perDispatch / ELEMENTS_PER_INVOCATION);
    device.queue.writeBuffer(params, 0, Uint32Array.from([perDispatch, alphaBits, WGSL_DTYPE_CODE.BF16, WGSL_DTYPE_CODE.BF16, WGSL_DTYPE_CODE.BF16, WGSL_DTYPE_CODE.BF16, invocations, 0]));
    const bindGroups = Array.from({ length: slicesPerBuffer }, (_, slice) =>
      device.createBindGroup({
        layout: kernel.layout,
        entries: [
          { binding: 0, resource: { buffer: params } },
          ...roles.map((buffer, role) => ({ binding: role + 1, resource: { buffer, offset: slice * sliceBytes, size: sliceBytes } })),
        ],
      }),
    );
    const workgroups = Math.ceil(invocations / WORKGROUP_SIZE);
    const columns = Math.min(workgroups, device.limits.maxComputeWorkgroupsPerDimension);
    const submitAll = async () => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(kernel.merge);
      for (let dispatch = 0; dispatch < dispatches; dispatch++) {
        pass.setBindGroup(0, bindGroups[dispatch % slicesPerBuffer]!);
        pass.dispatchWorkgroups(columns, Math.ceil(workgroups / columns));
      }
      pass.end();
      const commands = encoder.finish();
      const started = performance.now();
      device.queue.submit([commands]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - started) / 1000;
    };
    device.pushErrorScope("validation");
    await submitAll();
    const error = await device.popErrorScope();
    if (error) throw new Error(`the GPU refused the resident-buffer dispatches: ${error.message}`);
    let seconds = Infinity;
    for (let run = 0; run < runs; run++) seconds = Math.min(seconds, await submitAll());
    const elements = dispatches * perDispatch;
    return {
      elementsPerRole: elements,
      elementsPerDispatch: perDispatch,
      dispatches,
      seconds,
      outputBytesPerSecond: (elements * BF16_BYTES) / seconds,
      inputBytesPerSecond: (3 * elements * BF16_BYTES) / seconds,
    };
  } finally {
    for (const buffer of [...roles, params]) buffer.destroy();
  }
}
