/// <reference types="@webgpu/types" />
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { computeChunkHere, type ChunkComputer, type ChunkTask } from "../src/core/engine/ChunkComputer.ts";
import { createWebGpuComputer } from "../src/core/engine/webGpuComputer.ts";
import { createWebGpuRecipeKernel } from "../src/core/numeric/webgpu/createWebGpuRecipeKernel.ts";
import { GpuStallError, mapForReading } from "../src/core/numeric/webgpu/mapForReading.ts";
import type { WebGpuMergeKernel } from "../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/**
 * A GPU that accepts every call and never answers a read-back (mapAsync stays pending), as a hung
 * device does; `answerLate` then answers every pending read-back with 0xff bytes.
 */
function hungDevice() {
  const pending: (() => void)[] = [];
  const buffer = (size: number) => {
    let mapped = false;
    return {
      size,
      destroy: () => undefined,
      mapAsync: () => new Promise<void>((resolve) => pending.push(() => ((mapped = true), resolve()))),
      getMappedRange: () => {
        if (!mapped) throw new Error("getMappedRange on a buffer that is not mapped");
        return new Uint8Array(size).fill(0xff).buffer;
      },
      unmap: () => (mapped = false),
    };
  };
  const pass = { setPipeline: () => undefined, setBindGroup: () => undefined, dispatchWorkgroups: () => undefined, end: () => undefined };
  const submits: unknown[] = [];
  const device = {
    lost: new Promise<never>(() => undefined),
    limits: { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28, maxComputeWorkgroupsPerDimension: 65535 },
    createShaderModule: () => ({ getCompilationInfo: async () => ({ messages: [] }) }),
    createBindGroupLayout: () => ({}),
    createPipelineLayout: () => ({}),
    createComputePipelineAsync: async () => ({}),
    createBindGroup: () => ({}),
    createBuffer: ({ size }: { size: number }) => buffer(size),
    createCommandEncoder: () => ({ beginComputePass: () => pass, copyBufferToBuffer: () => undefined, finish: () => ({}) }),
    queue: { writeBuffer: () => undefined, submit: (buffers: unknown[]) => submits.push(...buffers) },
    pushErrorScope: () => undefined,
    popErrorScope: async () => null,
    destroy: () => undefined,
  };
  return {
    device: device as unknown as GPUDevice,
    submits,
    answerLate: () => pending.splice(0).forEach((answer) => answer()),
  };
}

const STALL_MS = 40;

const floats = (values: number[]) => ({ dtype: "F32" as const, bytes: new Uint8Array(new Float32Array(values).buffer) });
const target = floats([1, -2, 3, 0.5, 8]);
const plus = floats([1.5, -2, 2, 0.25, 9]);
const minus = floats([1, -1, 2.5, 0.5, 7]);
const plus2 = floats([0, 4, -1, 2, 1]);
const minus2 = floats([0.5, 3, -1, 1, 1.5]);

const taskArithmetic: TensorRecipe = { tensorName: "w", method: "task_arithmetic", terms: [{ index: 0, weight: 0.75, density: 1, gamma: 0.01 }], normalize: false, rescale: true, seed: 0 };
const dareTies: TensorRecipe = {
  tensorName: "w",
  method: "dare_ties",
  terms: [
    { index: 0, weight: 1, density: 0.6, gamma: 0.01 },
    { index: 1, weight: 0.5, density: 0.8, gamma: 0.01 },
  ],
  normalize: false,
  rescale: true,
  seed: 7,
};
const oneTermTask: ChunkTask = { kind: "merge", outDtype: "BF16", target, terms: [{ plus, minus }], segments: [{ recipe: taskArithmetic, firstElement: 0, elements: 5 }] };
const recipeTask: ChunkTask = {
  kind: "merge",
  outDtype: "F32",
  target,
  terms: [
    { plus, minus },
    { plus: plus2, minus: minus2 },
  ],
  segments: [{ recipe: dareTies, firstElement: 0, elements: 5 }],
};

beforeEach(() => {
  vi.stubGlobal("GPUBufferUsage", { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 });
  vi.stubGlobal("GPUMapMode", { READ: 1 });
  vi.stubGlobal("GPUShaderStage", { COMPUTE: 4 });
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe("mapForReading", () => {
  const never = new Promise<never>(() => undefined);
  const bufferMapping = (mapped: Promise<void>) => ({ mapAsync: () => mapped }) as unknown as GPUBuffer;

  it("resolves once the buffer maps within the time", async () => {
    await expect(mapForReading(bufferMapping(new Promise((resolve) => setTimeout(resolve, 5))), 4, never, 1000)).resolves.toBeUndefined();
  });

  it("rejects with a GpuStallError naming the time when no answer comes", async () => {
    const stall = mapForReading(bufferMapping(new Promise(() => undefined)), 4, never, STALL_MS);
    await expect(stall).rejects.toThrow(GpuStallError);
    await expect(stall).rejects.toThrow("the GPU gave no result in 0.04 s");
  });

  it("rejects with the device's loss, and with mapAsync's own error", async () => {
    await expect(mapForReading(bufferMapping(new Promise(() => undefined)), 4, Promise.reject(new Error("the GPU device was lost (gone)")), 1000)).rejects.toThrow(
      "the GPU device was lost (gone)",
    );
    await expect(mapForReading(bufferMapping(Promise.reject(new Error("mapAsync aborted"))), 4, never, 1000)).rejects.toThrow("mapAsync aborted");
  });
});

describe("a GPU that stops answering", () => {
  async function hungComputer() {
    const gpu = hungDevice();
    const recipe = await createWebGpuRecipeKernel(gpu.device, { stallMs: STALL_MS });
    const kernel: WebGpuMergeKernel = { device: gpu.device, adapterName: "hung", software: false, layout: {} as GPUBindGroupLayout, merge: {} as GPUComputePipeline, convert: {} as GPUComputePipeline, maxElements: 2 ** 22, recipe };
    const failures: string[] = [];
    const fallbackTasks: ChunkTask[] = [];
    const fallback: ChunkComputer = {
      compute: async (task) => {
        fallbackTasks.push(task);
        return computeChunkHere(task);
      },
    };
    const computer = createWebGpuComputer(kernel, { fallback, stallMs: STALL_MS, onGpuFailure: (reason) => failures.push(reason) });
    return { gpu, computer, failures, fallbackTasks };
  }

  for (const [name, task] of [
    ["one-term task arithmetic", oneTermTask],
    ["a 2-term dare_ties recipe (the recipe kernel)", recipeTask],
  ] as const) {
    it(`${name}: the task is computed on the fallback, once, with the fallback's bytes; a late answer writes nothing`, async () => {
      const { gpu, computer, failures, fallbackTasks } = await hungComputer();
      const expected = computeChunkHere(task);
      const started = performance.now();
      const bytes = await computer.compute(task);
      expect(performance.now() - started).toBeGreaterThanOrEqual(STALL_MS - 5);
      expect(gpu.submits.length).toBeGreaterThan(0);
      expect(failures).toEqual(["the GPU gave no result in 0.04 s"]);
      expect(fallbackTasks).toEqual([task]);
      expect([...bytes]).toEqual([...expected]);

      gpu.answerLate();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect([...bytes]).toEqual([...expected]);

      // Later tasks go straight to the fallback, without waiting for the GPU again.
      const submitted = gpu.submits.length;
      const again = performance.now();
      expect([...(await computer.compute(task))]).toEqual([...expected]);
      expect(performance.now() - again).toBeLessThan(STALL_MS);
      expect(gpu.submits.length).toBe(submitted);
      expect(failures).toHaveLength(1);
    });
  }
});
