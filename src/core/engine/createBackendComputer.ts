/// <reference types="@webgpu/types" />
import { requestWebGpuMergeKernel } from "../numeric/webgpu/requestWebGpuMergeKernel.ts";
import { createCalibratedComputer } from "./calibratedComputer.ts";
import type { ChunkComputer } from "./ChunkComputer.ts";
import { createWebGpuComputer } from "./webGpuComputer.ts";

/** Where a merge's chunk arithmetic runs: chosen by calibration, or forced. */
export type BackendChoice = "auto" | "gpu" | "cpu";

export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "gpu", "cpu"];

export function isBackendChoice(value: string): value is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(value);
}

/** The backend computing now; `calibrating` while "auto" times both on the first chunks. */
export type BackendInUse =
  | { kind: "gpu"; adapter: string; software: boolean }
  | { kind: "cpu"; workers: number }
  | { kind: "calibrating"; adapter: string; software: boolean; workers: number };

export interface BackendReport {
  backend: BackendInUse;
  /** Why this backend, in plain words, when there is more to say than its name. */
  note?: string;
  /** True when the note tells of a fallback: the GPU was asked for but is missing, or it failed mid-merge. */
  fallback?: boolean;
}

const gpuName = (adapter: string, software: boolean) => `${adapter}${software ? " (software)" : ""}`;
const workersText = (workers: number) => `${workers} ${workers === 1 ? "worker" : "workers"}`;

/** "GPU: <adapter>", "CPU: N workers", or what a calibration compares. */
export function describeBackend(backend: BackendInUse): string {
  if (backend.kind === "gpu") return `GPU: ${gpuName(backend.adapter, backend.software)}`;
  if (backend.kind === "cpu") return `CPU: ${workersText(backend.workers)}`;
  return `Timing GPU: ${gpuName(backend.adapter, backend.software)} against CPU: ${workersText(backend.workers)}`;
}

const gbPerSecond = (bytesPerSecond: number) => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;

export interface BackendComputerOptions {
  /** The page's or worker's navigator.gpu (default: this global's); undefined where there is no WebGPU. */
  gpu?: GPU | undefined;
}

/**
 * The ChunkComputer for a merge on `choice`: the CPU pool, a WebGPU device (with the pool as its
 * fallback), or both calibrated against each other. Tells `onReport` which backend computes, at
 * once and whenever that changes. `close` releases the GPU only; the pool belongs to the caller.
 */
export async function createBackendComputer(
  choice: BackendChoice,
  pool: { computer: ChunkComputer; workers: number },
  onReport: (report: BackendReport) => void,
  options: BackendComputerOptions = {},
): Promise<ChunkComputer> {
  const cpu: BackendInUse = { kind: "cpu", workers: pool.workers };
  const onPool: ChunkComputer = { compute: (task) => pool.computer.compute(task) };
  if (choice === "cpu") {
    onReport({ backend: cpu });
    return onPool;
  }
  const request = await requestWebGpuMergeKernel("gpu" in options ? options.gpu : globalThis.navigator?.gpu);
  if ("unavailable" in request) {
    onReport(
      choice === "gpu"
        ? { backend: cpu, note: `The GPU was asked for, but ${request.unavailable}: the merge runs on the CPU.`, fallback: true }
        : { backend: cpu, note: `No GPU: ${request.unavailable}.` },
    );
    return onPool;
  }
  const { kernel } = request;
  const gpu: BackendInUse = { kind: "gpu", adapter: kernel.adapterName, software: kernel.software };
  let gpuFailed = false;
  const gpuComputer = createWebGpuComputer(kernel, {
    fallback: pool.computer,
    onGpuFailure: (reason) => {
      gpuFailed = true;
      onReport({ backend: cpu, note: `The GPU failed mid-merge (${reason}): the rest ran on the CPU, with the same bytes.`, fallback: true });
    },
  });
  if (choice === "gpu") {
    onReport({ backend: gpu });
    return gpuComputer;
  }
  onReport({ backend: { kind: "calibrating", adapter: gpu.adapter, software: gpu.software, workers: pool.workers } });
  return createCalibratedComputer(gpuComputer, pool.computer, {
    onCalibrated: ({ choice, gpuBytesPerSecond, cpuBytesPerSecond }) => {
      if (gpuFailed) return;
      if (cpuBytesPerSecond === undefined) {
        onReport({ backend: gpu, note: `Auto kept the GPU: the merge ended before the CPU could be timed (the GPU computed ${gbPerSecond(gpuBytesPerSecond)}).` });
        return;
      }
      const measured = `on the first chunks the GPU computed ${gbPerSecond(gpuBytesPerSecond)}, the CPU ${gbPerSecond(cpuBytesPerSecond)}`;
      if (choice === "gpu") {
        onReport({ backend: gpu, note: `Auto chose the GPU: ${measured}.` });
      } else {
        onReport({ backend: cpu, note: `Auto chose the CPU: ${measured}.` });
        // The GPU has no task left: its device is released now rather than at the end.
        void gpuComputer.close?.();
      }
    },
  });
}
