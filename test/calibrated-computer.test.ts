import { describe, expect, it } from "vitest";
import { createCalibratedComputer, type Calibration } from "../src/core/engine/calibratedComputer.ts";
import type { ChunkComputer, ChunkTask } from "../src/core/engine/ChunkComputer.ts";
import { oneTermTask } from "./helpers/oneVectorRecipe.ts";

/** A merge task numbered by its alpha, with `bytes` output bytes. */
const mergeTask = (number: number, bytes = 1000): ChunkTask =>
  oneTermTask(number, { dtype: "F32", bytes: new Uint8Array(bytes) }, { dtype: "F32", bytes: new Uint8Array(bytes) }, { dtype: "F32", bytes: new Uint8Array(bytes) }, "F32");
const convertTask = (): ChunkTask => ({ kind: "convert", input: { dtype: "BF16", bytes: new Uint8Array(8) }, outDtype: "F32" });
const describeTask = (task: ChunkTask) => (task.kind === "merge" ? `merge ${task.segments[0]!.recipe.terms[0]!.weight}` : "convert");

/**
 * A computer that takes `costMs` of a manual clock per task: the clock advances when the task
 * finishes, and `gate` (if given) holds every task until it is opened.
 */
function fakeComputer(name: string, costMs: number, clock: { ms: number }, log: string[], gate?: Promise<void>): ChunkComputer & { closed: boolean } {
  const computer = {
    closed: false,
    async compute(task: ChunkTask) {
      log.push(`${name} ${describeTask(task)}`);
      await gate;
      clock.ms += costMs;
      return new Uint8Array(task.kind === "merge" ? task.target.bytes.byteLength : 16);
    },
    async close() {
      computer.closed = true;
    },
  };
  return computer;
}

function setUp(gpuCostMs: number, cpuCostMs: number, gpuGate?: Promise<void>) {
  const clock = { ms: 0 };
  const log: string[] = [];
  const gpu = fakeComputer("gpu", gpuCostMs, clock, log, gpuGate);
  const cpu = fakeComputer("cpu", cpuCostMs, clock, log);
  const calibrations: Calibration[] = [];
  const computer = createCalibratedComputer(gpu, cpu, { tasksPerBackend: 3, now: () => clock.ms, onCalibrated: (c) => calibrations.push(c) });
  return { clock, log, gpu, cpu, calibrations, computer };
}

describe("createCalibratedComputer", () => {
  it("runs three merge tasks on the GPU, three on the CPU, then all on the faster: here the CPU", async () => {
    const { log, calibrations, computer } = setUp(20, 10);
    await Promise.all(Array.from({ length: 9 }, (_, i) => computer.compute(mergeTask(i))));
    expect(log).toEqual(["gpu merge 0", "gpu merge 1", "gpu merge 2", "cpu merge 3", "cpu merge 4", "cpu merge 5", "cpu merge 6", "cpu merge 7", "cpu merge 8"]);
    expect(calibrations).toHaveLength(1);
    expect(calibrations[0]!.choice).toBe("cpu");
    // 3000 bytes in 60 ms of GPU time, 3000 bytes in 30 ms of CPU time.
    expect(calibrations[0]!.gpuBytesPerSecond).toBeCloseTo(50_000);
    expect(calibrations[0]!.cpuBytesPerSecond).toBeCloseTo(100_000);
  });

  it("keeps the GPU when it is not slower than the CPU", async () => {
    const { log, calibrations, computer } = setUp(10, 10);
    await Promise.all(Array.from({ length: 8 }, (_, i) => computer.compute(mergeTask(i))));
    expect(calibrations.map((c) => c.choice)).toEqual(["gpu"]);
    expect(log.slice(6)).toEqual(["gpu merge 6", "gpu merge 7"]);
    expect(await computer.compute(convertTask())).toHaveLength(16);
    expect(log.at(-1)).toBe("gpu convert");
  });

  it("counts overlapping tasks' time once: three GPU tasks at once are one busy stretch", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { calibrations, computer } = setUp(10, 25, gate);
    const gpuTasks = [0, 1, 2].map((i) => computer.compute(mergeTask(i)));
    open();
    await Promise.all([...gpuTasks, ...[3, 4, 5].map((i) => computer.compute(mergeTask(i)))]);
    // The GPU's three tasks overlap: 3000 bytes over 30 ms of busy time, as the clock ran.
    expect(calibrations[0]!.gpuBytesPerSecond).toBeCloseTo(100_000);
    expect(calibrations[0]!.choice).toBe("gpu");
  });

  it("starts the CPU's calibration tasks only once the GPU's are done, and sends converts to the CPU meanwhile", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { log, computer } = setUp(10, 10, gate);
    const pending = Array.from({ length: 5 }, (_, i) => computer.compute(mergeTask(i)));
    const converted = await computer.compute(convertTask());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(converted).toHaveLength(16);
    expect(log).toEqual(["gpu merge 0", "gpu merge 1", "gpu merge 2", "cpu convert"]);
    open();
    await Promise.all(pending);
    expect(log.slice(4)).toEqual(["cpu merge 3", "cpu merge 4"]);
  });

  it("a merge that ends before the CPU's three tasks is decided on the tasks it timed", async () => {
    const { log, calibrations, computer } = setUp(20, 10);
    await Promise.all(Array.from({ length: 4 }, (_, i) => computer.compute(mergeTask(i))));
    expect(calibrations).toEqual([]);
    computer.finish?.();
    expect(log).toEqual(["gpu merge 0", "gpu merge 1", "gpu merge 2", "cpu merge 3"]);
    // 3000 bytes in 60 ms of GPU time; 1000 bytes in 10 ms of CPU time.
    expect(calibrations).toHaveLength(1);
    expect(calibrations[0]!.choice).toBe("cpu");
    expect(calibrations[0]!.gpuBytesPerSecond).toBeCloseTo(50_000);
    expect(calibrations[0]!.cpuBytesPerSecond).toBeCloseTo(100_000);
    computer.finish?.();
    expect(calibrations).toHaveLength(1);
  });

  it("a merge of no more chunks than the GPU's share keeps the GPU, with no CPU rate; one of no merge task decides nothing", async () => {
    const { calibrations, computer } = setUp(20, 10);
    await Promise.all(Array.from({ length: 2 }, (_, i) => computer.compute(mergeTask(i))));
    computer.finish?.();
    expect(calibrations).toEqual([{ choice: "gpu", gpuBytesPerSecond: 50_000 }]);

    const idle = setUp(20, 10);
    await idle.computer.compute(convertTask());
    idle.computer.finish?.();
    expect(idle.calibrations).toEqual([]);
  });

  it("closes the GPU computer, not the CPU's, which belongs to the caller", async () => {
    const { gpu, cpu, computer } = setUp(10, 10);
    await computer.close?.();
    expect(gpu.closed).toBe(true);
    expect(cpu.closed).toBe(false);
  });
});
