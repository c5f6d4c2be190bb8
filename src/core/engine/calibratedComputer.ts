import type { ChunkComputer, ChunkTask } from "./ChunkComputer.ts";

export interface Calibration {
  choice: "gpu" | "cpu";
  /** Output bytes per second of busy time: while at least one of the backend's calibration tasks ran. */
  gpuBytesPerSecond: number;
  /** Undefined when the merge ended before the CPU computed a timed task: the GPU is kept. */
  cpuBytesPerSecond?: number;
}

export interface CalibratedComputerOptions {
  /** Merge tasks timed on each backend (default 3). */
  tasksPerBackend?: number;
  onCalibrated: (calibration: Calibration) => void;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
}

/** Times the tasks run through it; their busy time counts each moment once, however many overlap. */
function createBusyMeter(now: () => number) {
  let active = 0;
  let since = 0;
  let busyMs = 0;
  let bytes = 0;
  return {
    async run(work: () => Promise<Uint8Array>): Promise<Uint8Array> {
      if (active++ === 0) since = now();
      try {
        const out = await work();
        bytes += out.byteLength;
        return out;
      } finally {
        if (--active === 0) busyMs += now() - since;
      }
    },
    bytesPerSecond: () => (busyMs > 0 ? (bytes * 1000) / busyMs : Number.POSITIVE_INFINITY),
  };
}

/**
 * Chooses between a GPU and a CPU computer on the merge's own first chunks: the first
 * `tasksPerBackend` merge tasks run on the GPU, the next ones on the CPU once the GPU's are done (so
 * that neither slows the other down, as a software GPU shares the CPU), and then every task runs on
 * the backend with the higher throughput, the GPU when it is not slower. Until then, convert tasks
 * run on the CPU and merge tasks past the calibration wait for the choice; a merge that ends sooner
 * (`finish`) is decided on the tasks it timed. `close` closes the GPU computer only: the CPU computer
 * belongs to the caller.
 */
export function createCalibratedComputer(gpu: ChunkComputer, cpu: ChunkComputer, options: CalibratedComputerOptions): ChunkComputer {
  const perBackend = options.tasksPerBackend ?? 3;
  const now = options.now ?? (() => performance.now());
  const gpuMeter = createBusyMeter(now);
  const cpuMeter = createBusyMeter(now);
  let mergeTasks = 0;
  let chosen: ChunkComputer | undefined;

  const phase = () => {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const state = {
      settled: 0,
      done,
      settle: () => {
        if (++state.settled === perBackend) resolve();
      },
    };
    return state;
  };
  const gpuPhase = phase();
  const cpuPhase = phase();
  const decide = (): ChunkComputer => {
    if (chosen) return chosen;
    const cpuBytesPerSecond = cpuPhase.settled > 0 ? cpuMeter.bytesPerSecond() : undefined;
    const gpuBytesPerSecond = gpuMeter.bytesPerSecond();
    const calibration: Calibration = {
      choice: cpuBytesPerSecond === undefined || gpuBytesPerSecond >= cpuBytesPerSecond ? "gpu" : "cpu",
      gpuBytesPerSecond,
      ...(cpuBytesPerSecond === undefined ? {} : { cpuBytesPerSecond }),
    };
    chosen = calibration.choice === "gpu" ? gpu : cpu;
    options.onCalibrated(calibration);
    return chosen;
  };
  const choice = cpuPhase.done.then(decide);

  const timed = (meter: ReturnType<typeof createBusyMeter>, computer: ChunkComputer, task: ChunkTask, settle: () => void) =>
    meter.run(() => computer.compute(task)).finally(settle);

  return {
    async compute(task) {
      if (chosen) return chosen.compute(task);
      if (task.kind !== "merge") return cpu.compute(task);
      const index = mergeTasks++;
      if (index < perBackend) return timed(gpuMeter, gpu, task, gpuPhase.settle);
      if (index < 2 * perBackend) {
        await gpuPhase.done;
        return timed(cpuMeter, cpu, task, cpuPhase.settle);
      }
      return (await choice).compute(task);
    },
    finish() {
      // A merge of fewer chunks than the calibration times: decide on those it timed, so that the
      // report names the backend that computed rather than a calibration that never ends.
      if (mergeTasks > 0) decide();
    },
    async close() {
      await gpu.close?.();
    },
  };
}
