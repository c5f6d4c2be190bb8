import { describe, expect, it } from "vitest";
import type { ChunkComputer } from "../src/core/engine/ChunkComputer.ts";
import { createBackendComputer, describeBackend, type BackendReport } from "../src/core/engine/createBackendComputer.ts";

describe("createBackendComputer where there is no WebGPU (Node)", () => {
  const pool: ChunkComputer = { compute: async () => new Uint8Array([7]) };
  const convert = { kind: "convert", input: { dtype: "F32", bytes: new Uint8Array(4) }, outDtype: "F32" } as const;

  it("runs on the pool when the GPU is forced, and says why in a fallback notice", async () => {
    const reports: BackendReport[] = [];
    const computer = await createBackendComputer("gpu", { computer: pool, workers: 3 }, (report) => reports.push(report), { gpu: undefined });
    expect(await computer.compute(convert)).toEqual(new Uint8Array([7]));
    expect(reports).toEqual([
      { backend: { kind: "cpu", workers: 3 }, note: "The GPU was asked for, but this browser has no WebGPU: the merge runs on the CPU.", fallback: true },
    ]);
  });

  it("runs on the pool on auto, with a note and no fallback notice", async () => {
    const reports: BackendReport[] = [];
    await createBackendComputer("auto", { computer: pool, workers: 1 }, (report) => reports.push(report), { gpu: undefined });
    expect(reports).toEqual([{ backend: { kind: "cpu", workers: 1 }, note: "No GPU: this browser has no WebGPU." }]);
  });

  it("names the backend in use", () => {
    expect(describeBackend({ kind: "gpu", adapter: "google swiftshader", software: true })).toBe("GPU: google swiftshader (software)");
    expect(describeBackend({ kind: "gpu", adapter: "NVIDIA GeForce RTX 4090", software: false })).toBe("GPU: NVIDIA GeForce RTX 4090");
    expect(describeBackend({ kind: "cpu", workers: 1 })).toBe("CPU: 1 worker");
    expect(describeBackend({ kind: "cpu", workers: 7 })).toBe("CPU: 7 workers");
  });
});
