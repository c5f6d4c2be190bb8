/// <reference types="@webgpu/types" />
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { computeChunkHere, type ChunkComputer, type ChunkTask } from "../src/core/engine/ChunkComputer.ts";
import { createWebGpuComputer } from "../src/core/engine/webGpuComputer.ts";
import { createWebGpuRecipeKernel } from "../src/core/numeric/webgpu/createWebGpuRecipeKernel.ts";
import { awaitGpu, GpuStallError, mapForReading } from "../src/core/numeric/webgpu/awaitGpu.ts";
import { requestWebGpuMergeKernel, type WebGpuMergeKernel } from "../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/** Where the fake GPU stops answering: its read-backs, or its compiles after the first (the recipe kernel's default pipeline). */
type Hang = "read-back" | "compile";

/**
 * A GPU that accepts every call and never answers where it hangs (mapAsync, or
 * createComputePipelineAsync, stays pending), as a hung device, or one whose GPU process died
 * without settling its promises, does; `answerLate` then answers every pending read-back with 0xff
 * bytes and every pending compile.
 */
function hungDevice(hang: Hang = "read-back") {
  const pending: (() => void)[] = [];
  const buffer = (size: number) => {
    let mapped = false;
    return {
      size,
      destroy: () => undefined,
      mapAsync: () =>
        hang === "read-back" ? new Promise<void>((resolve) => pending.push(() => ((mapped = true), resolve()))) : Promise.resolve().then(() => void (mapped = true)),
      getMappedRange: () => {
        if (!mapped) throw new Error("getMappedRange on a buffer that is not mapped");
        return new Uint8Array(size).fill(0xff).buffer;
      },
      unmap: () => (mapped = false),
    };
  };
  const pass = { setPipeline: () => undefined, setBindGroup: () => undefined, dispatchWorkgroups: () => undefined, end: () => undefined };
  const submits: unknown[] = [];
  let compiles = 0;
  const device = {
    lost: new Promise<never>(() => undefined),
    limits: { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28, maxComputeWorkgroupsPerDimension: 65535 },
    createShaderModule: () => ({ getCompilationInfo: async () => ({ messages: [] }) }),
    createBindGroupLayout: () => ({}),
    createPipelineLayout: () => ({}),
    createComputePipelineAsync: () => {
      compiles += 1;
      return hang === "compile" && compiles > 1 ? new Promise((resolve) => pending.push(() => resolve({}))) : Promise.resolve({});
    },
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

describe("awaitGpu and mapForReading", () => {
  const never = new Promise<never>(() => undefined);
  const bufferMapping = (mapped: Promise<void>) => ({ mapAsync: () => mapped }) as unknown as GPUBuffer;

  it("answer with the operation's value once it comes within the time", async () => {
    await expect(awaitGpu(new Promise((resolve) => setTimeout(() => resolve(42), 5)), "a test", never, 1000)).resolves.toBe(42);
    await expect(mapForReading(bufferMapping(new Promise((resolve) => setTimeout(resolve, 5))), 4, never, 1000)).resolves.toBeUndefined();
  });

  it("reject with a GpuStallError naming the operation and the time when no answer comes", async () => {
    const stall = awaitGpu(new Promise(() => undefined), "compiling a test kernel", never, STALL_MS);
    await expect(stall).rejects.toThrow(GpuStallError);
    await expect(stall).rejects.toThrow("the GPU gave no answer to compiling a test kernel in 0.04 s");
    await expect(mapForReading(bufferMapping(new Promise(() => undefined)), 4, never, STALL_MS)).rejects.toThrow("the GPU gave no answer to a read-back in 0.04 s");
  });

  it("reject with the device's loss, and with the operation's own error", async () => {
    await expect(mapForReading(bufferMapping(new Promise(() => undefined)), 4, Promise.reject(new Error("the GPU device was lost (gone)")), 1000)).rejects.toThrow(
      "the GPU device was lost (gone)",
    );
    await expect(mapForReading(bufferMapping(Promise.reject(new Error("mapAsync aborted"))), 4, never, 1000)).rejects.toThrow("mapAsync aborted");
  });
});

describe("a GPU that stops answering", () => {
  async function hungComputer(hang: Hang) {
    const gpu = hungDevice(hang);
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

  for (const [name, hang, task, failure] of [
    ["one-term task arithmetic, a read-back never answered", "read-back", oneTermTask, "the GPU gave no answer to a read-back in 0.04 s"],
    ["a 2-term dare_ties recipe (the recipe kernel), a read-back never answered", "read-back", recipeTask, "the GPU gave no answer to a read-back in 0.04 s"],
    [
      "a 2-term dare_ties recipe, its pipeline's compile never answered",
      "compile",
      recipeTask,
      'the GPU gave no answer to compiling the recipe kernel ({"CONSENSUS":1,"NORMALIZE":0,"SPARSE_KEEP":1}) in 0.04 s',
    ],
  ] as const) {
    it(`${name}: the task is computed on the fallback, once, with the fallback's bytes; a late answer writes nothing`, async () => {
      const { gpu, computer, failures, fallbackTasks } = await hungComputer(hang);
      const expected = computeChunkHere(task);
      const started = performance.now();
      const bytes = await computer.compute(task);
      expect(performance.now() - started).toBeGreaterThanOrEqual(STALL_MS - 5);
      // A compile that never answers leaves nothing submitted.
      expect(gpu.submits.length > 0).toBe(hang === "read-back");
      expect(failures).toEqual([failure]);
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

describe("requestWebGpuMergeKernel on a GPU that stops answering or is lost while it opens", () => {
  /**
   * navigator.gpu over a hungDevice whose adapter request hangs or fails, whose device's compiles hang
   * (the device lost meanwhile when `lose`), or whose merge kernels do not compile, as asked.
   */
  function fakeGpu(options: { adapterHangs?: boolean; adapterFails?: boolean; deviceFails?: boolean; compileHangs?: boolean; lose?: boolean; compileError?: boolean }) {
    const { device } = hungDevice();
    let destroyed = false;
    let loseDevice: (info: GPUDeviceLostInfo) => void = () => undefined;
    const fake = device as unknown as Record<string, unknown>;
    fake.lost = new Promise<GPUDeviceLostInfo>((resolve) => (loseDevice = resolve));
    fake.destroy = () => (destroyed = true);
    fake.createShaderModule = () => ({
      getCompilationInfo: async () => ({ messages: options.compileError ? [{ type: "error", lineNum: 3, linePos: 7, message: "bad" }] : [] }),
    });
    fake.createComputePipelineAsync = () => {
      if (options.lose) setTimeout(() => loseDevice({ reason: "unknown", message: "GPU process exited" } as GPUDeviceLostInfo), 5);
      return options.compileHangs || options.lose ? new Promise(() => undefined) : Promise.resolve({});
    };
    const adapter = {
      info: { isFallbackAdapter: true, description: "fake", vendor: "", architecture: "", device: "" },
      requestDevice: async () => {
        if (options.deviceFails) throw new Error("limits not supported");
        return device;
      },
    };
    const requestAdapter = () => {
      if (options.adapterHangs) return new Promise(() => undefined);
      return options.adapterFails ? Promise.reject(new Error("blocklisted")) : Promise.resolve(adapter);
    };
    const gpu = { requestAdapter } as unknown as GPU;
    return { gpu, destroyed: () => destroyed };
  }

  it("says the GPU is unavailable, naming what got no answer, and releases the device", async () => {
    const hangingAdapter = fakeGpu({ adapterHangs: true });
    expect(await requestWebGpuMergeKernel(hangingAdapter.gpu, { stallMs: STALL_MS })).toEqual({ unavailable: "the GPU gave no answer to the request for an adapter in 0.04 s" });
    const hangingCompile = fakeGpu({ compileHangs: true });
    expect(await requestWebGpuMergeKernel(hangingCompile.gpu, { stallMs: STALL_MS })).toEqual({ unavailable: "the GPU gave no answer to compiling the merge kernels in 0.04 s" });
    expect(hangingCompile.destroyed()).toBe(true);
  });

  it("says which request the GPU refused", async () => {
    expect(await requestWebGpuMergeKernel(fakeGpu({ adapterFails: true }).gpu, { stallMs: STALL_MS })).toEqual({ unavailable: "the GPU refused an adapter: blocklisted" });
    expect(await requestWebGpuMergeKernel(fakeGpu({ deviceFails: true }).gpu, { stallMs: STALL_MS })).toEqual({ unavailable: "the GPU refused a device: limits not supported" });
  });

  it("says the GPU is unavailable when the device is lost during a compile that never answers", async () => {
    const losing = fakeGpu({ lose: true });
    expect(await requestWebGpuMergeKernel(losing.gpu, { stallMs: 60_000 })).toEqual({ unavailable: "the GPU device was lost (GPU process exited)" });
    expect(losing.destroyed()).toBe(true);
  });

  it("opens a GPU that answers, and throws a kernel that does not compile as an internal error", async () => {
    const answering = await requestWebGpuMergeKernel(fakeGpu({}).gpu, { stallMs: STALL_MS });
    expect("kernel" in answering && answering.kernel.adapterName).toBe("fake");
    const broken = fakeGpu({ compileError: true });
    await expect(requestWebGpuMergeKernel(broken.gpu, { stallMs: STALL_MS })).rejects.toThrow("internal: the merge kernels do not compile: 3:7 bad");
    expect(broken.destroyed()).toBe(true);
  });
});
