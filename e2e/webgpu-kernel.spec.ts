import { expect, test, type Page } from "@playwright/test";
import { KERNEL_DTYPES, makeKernelTestInputs, ROUNDING_FAMILIES, type KernelDtype } from "./kernelTestChunks.ts";
import { openMergeApiPage, serveMergeApiPage } from "./mergeApiPage.ts";

/** The parts of the GPU computer and its JavaScript reference these tests use, as e2e/merge-api-page.ts exposes them (`webGpuKernel`). */
interface KernelApi {
  requestWebGpuMergeKernel(): Promise<{ kernel: { adapterName: string; software: boolean } } | { unavailable: string }>;
  createWebGpuComputer(
    kernel: unknown,
    options: { fallback: { compute(task: unknown): Promise<Uint8Array> }; onGpuFailure?: (reason: string) => void; maxElementsPerDispatch?: number },
  ): { compute(task: unknown): Promise<Uint8Array>; close(): Promise<void> };
  mergeChunk(weight: number, t: Chunk, p: Chunk, m: Chunk, outDtype: KernelDtype): Uint8Array;
  convertChunk(input: Chunk, outDtype: KernelDtype): Uint8Array;
}
interface Chunk {
  dtype: KernelDtype;
  bytes: Uint8Array;
}

/** One comparison: GPU and JavaScript reference on the same inputs, as base64. */
interface KernelCase {
  kind: "merge" | "convert";
  target: { dtype: KernelDtype; base64: string };
  plus?: { dtype: KernelDtype; base64: string };
  minus?: { dtype: KernelDtype; base64: string };
  alpha: number;
  outDtype: KernelDtype;
}

interface KernelReport {
  adapter: string;
  compared: number;
  mismatches: string[];
}

const ALPHAS = [1, -1, 0, 0.3, 1e-3];
const ELEMENTS = 1031;

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/**
 * Runs every case on the GPU computer (its fallback fails the case, so no CPU can stand in) and
 * with mergeChunk / convertChunk in the page, and names the first differing element of each case
 * that differs.
 */
function compareInPage(page: Page, cases: KernelCase[], maxElementsPerDispatch?: number): Promise<KernelReport> {
  return page.evaluate(
    async ({ cases, maxElementsPerDispatch }) => {
      const api = (window as unknown as { __mergeStudio: { webGpuKernel: KernelApi } }).__mergeStudio.webGpuKernel;
      const request = await api.requestWebGpuMergeKernel();
      if ("unavailable" in request) throw new Error(`no WebGPU: ${request.unavailable}`);
      const failures: string[] = [];
      const computer = api.createWebGpuComputer(request.kernel, {
        fallback: { compute: async () => Promise.reject(new Error("the GPU computer fell back to the CPU")) },
        onGpuFailure: (reason) => failures.push(reason),
        ...(maxElementsPerDispatch ? { maxElementsPerDispatch } : {}),
      });
      const decode = (chunk: { dtype: KernelDtype; base64: string }) => ({
        dtype: chunk.dtype,
        bytes: Uint8Array.from(atob(chunk.base64), (char) => char.charCodeAt(0)),
      });
      const hex = (bytes: Uint8Array, dtype: KernelDtype, index: number) => {
        const width = dtype === "F32" ? 4 : 2;
        let value = 0;
        for (let byte = width - 1; byte >= 0; byte--) value = value * 256 + bytes[index * width + byte]!;
        return `0x${value.toString(16).padStart(width * 2, "0")}`;
      };
      const mismatches = await Promise.all(
        cases.map(async (test) => {
          const target = decode(test.target);
          if (test.kind === "convert") {
            const gpu = await computer.compute({ kind: "convert", input: target, outDtype: test.outDtype });
            const reference = api.convertChunk(target, test.outDtype);
            const index = gpu.findIndex((byte, i) => byte !== reference[i]);
            if (gpu.length === reference.length && index < 0) return undefined;
            const element = Math.floor(Math.max(0, index) / (test.outDtype === "F32" ? 4 : 2));
            return `convert ${target.dtype} -> ${test.outDtype}: element ${element} of ${hex(target.bytes, target.dtype, element)} gave ${hex(gpu, test.outDtype, element)}, expected ${hex(reference, test.outDtype, element)}`;
          }
          const plus = decode(test.plus!);
          const minus = decode(test.minus!);
          // One segment of a one-term task_arithmetic recipe: what the engine sends for the one-vector recipe.
          const recipe = { tensorName: "test.weight", method: "task_arithmetic", terms: [{ index: 0, weight: Math.fround(test.alpha), density: 1, gamma: 0.01 }], normalize: false, rescale: true, seed: 0 };
          const elements = target.bytes.byteLength / (target.dtype === "F32" ? 4 : 2);
          const gpu = await computer.compute({
            kind: "merge",
            outDtype: test.outDtype,
            target,
            terms: [{ plus, minus }],
            segments: [{ recipe, firstElement: 0, elements }],
          });
          const reference = api.mergeChunk(test.alpha, target, plus, minus, test.outDtype);
          const index = gpu.findIndex((byte, i) => byte !== reference[i]);
          if (gpu.length === reference.length && index < 0) return undefined;
          const element = Math.floor(Math.max(0, index) / (test.outDtype === "F32" ? 4 : 2));
          const inputs = [target, plus, minus].map((chunk) => hex(chunk.bytes, chunk.dtype, element)).join(", ");
          return (
            `${target.dtype} + ${test.alpha} * (${plus.dtype} - ${minus.dtype}) -> ${test.outDtype}: element ${element} of (${inputs}) ` +
            `gave ${hex(gpu, test.outDtype, element)}, expected ${hex(reference, test.outDtype, element)}`
          );
        }),
      );
      await computer.close();
      return {
        adapter: `${request.kernel.adapterName}${request.kernel.software ? " (software)" : ""}`,
        compared: cases.length,
        mismatches: [...failures, ...mismatches.filter((mismatch) => mismatch !== undefined)],
      };
    },
    { cases, maxElementsPerDispatch },
  );
}

/** Merge cases for every target, plus and minus dtype, every output dtype and every alpha, on `count` elements. */
function everyCombination(count: number, alphas: number[]): KernelCase[] {
  const cases: KernelCase[] = [];
  let seed = 1;
  for (const t of KERNEL_DTYPES) {
    for (const p of KERNEL_DTYPES) {
      for (const m of KERNEL_DTYPES) {
        const inputs = makeKernelTestInputs({ t, p, m }, count, seed++);
        for (const outDtype of KERNEL_DTYPES) {
          for (const alpha of alphas) {
            cases.push({
              kind: "merge",
              target: { dtype: t, base64: base64(inputs.target) },
              plus: { dtype: p, base64: base64(inputs.plus) },
              minus: { dtype: m, base64: base64(inputs.minus) },
              alpha,
              outDtype,
            });
          }
        }
      }
    }
  }
  return cases;
}

test.describe.configure({ timeout: 180_000 });

let mergeApiPage: { url: string; close(): Promise<void> };

test.beforeAll(async () => {
  mergeApiPage = await serveMergeApiPage();
});

test.afterAll(async () => {
  await mergeApiPage?.close();
});

test.beforeEach(async ({ page }) => {
  await openMergeApiPage(page, mergeApiPage.url);
});

test("GPU merges equal mergeChunk bit for bit: every input and output dtype, alpha 1, -1, 0, 0.3 and 1e-3", async ({ page }) => {
  const cases = everyCombination(ELEMENTS, ALPHAS);
  const report = await compareInPage(page, cases);
  console.log(`WebGPU adapter: ${report.adapter}; ${report.compared} merge cases of ${ELEMENTS} elements compared`);
  expect(report.compared).toBe(27 * 3 * ALPHAS.length);
  expect(report.mismatches).toEqual([]);
});

test("GPU converts equal convertChunk bit for bit for every dtype pair, on every 16-bit pattern", async ({ page }) => {
  const all16 = new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer);
  const f32 = makeKernelTestInputs({ t: "F32", p: "F32", m: "F32" }, 65536, 7).target;
  const cases: KernelCase[] = [];
  for (const [dtype, bytes] of [["BF16", all16], ["F16", all16], ["F32", f32]] as const) {
    for (const outDtype of KERNEL_DTYPES) cases.push({ kind: "convert", target: { dtype, base64: base64(bytes) }, alpha: 0, outDtype });
  }
  const report = await compareInPage(page, cases);
  expect(report.compared).toBe(9);
  expect(report.mismatches).toEqual([]);
});

test("float32 rounding on the GPU: larger random chunks, alphas that make subnormal and infinite products", async ({ page }) => {
  const cases: KernelCase[] = [];
  const count = 20_000;
  for (const [seed, alpha] of [0.3, 1e-3, -2.5, 1e-30, 3e30, 1].entries()) {
    const inputs = makeKernelTestInputs({ t: "F32", p: "F32", m: "F32" }, count, 1000 + seed, ROUNDING_FAMILIES);
    for (const outDtype of KERNEL_DTYPES) {
      cases.push({
        kind: "merge",
        target: { dtype: "F32", base64: base64(inputs.target) },
        plus: { dtype: "F32", base64: base64(inputs.plus) },
        minus: { dtype: "F32", base64: base64(inputs.minus) },
        alpha,
        outDtype,
      });
    }
  }
  const report = await compareInPage(page, cases);
  expect(report.mismatches).toEqual([]);
});

test("a task larger than one dispatch is split at odd element boundaries and still equals mergeChunk", async ({ page }) => {
  // 255 elements per dispatch: pieces start at odd elements, in the middle of packed 16-bit words.
  const cases = everyCombination(ELEMENTS, [0.3]).filter((_, index) => index % 4 === 0);
  const report = await compareInPage(page, cases, 255);
  expect(report.compared).toBeGreaterThan(15);
  expect(report.mismatches).toEqual([]);
});
