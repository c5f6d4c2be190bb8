/// <reference types="@webgpu/types" />
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { ChunkComputer } from "../../src/core/engine/ChunkComputer.ts";
import { createWebGpuComputer } from "../../src/core/engine/webGpuComputer.ts";
import { requestWebGpuMergeKernel } from "../../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import type { OnnxRuntime } from "../../src/eval/decoder/OnnxCausalDecoder.ts";
import { QWEN2_ONNX_FORMATS, type Qwen2OnnxFormat } from "../../src/eval/onnx/buildQwen2Onnx.ts";
import type { BatchPlan } from "../measureBatchGeneration.ts";
import { checkRecipeKernelBits, createSplitRecipeKernel, measureRecipeKernel, type RecipeBitCheck, type RecipeKernelTiming } from "./checkRecipeKernel.ts";
import { checkConversions, checkEveryDtypeMix, checkLargeRandomChunks, type BitCheckGroup, type BitCheckSizes } from "./checkMergeKernelBits.ts";
import { measureEvalOnWebGpu, type EvalCase, type EvalCaseResult } from "./measureEvalOnWebGpu.ts";
import { measureResidentKernel, measureStream, type ResidentMeasurement, type StreamMeasurement } from "./measureMergeKernel.ts";
import { openDawnGpu, type DawnGpu } from "./openDawnGpu.ts";

/**
 * The device harness: the project's WebGPU merge kernel, its recipe kernel (checkRecipeKernel.ts) and evaluator under Node with Dawn's
 * navigator.gpu, on whatever GPU Dawn finds. `npm run device:pack` bundles it into
 * .device/harness.mjs next to what it needs; `bash .device/run.sh ARGS` unpacks that and runs it.
 * Prints one line per check and writes results.json into --out (default $OUT) after every stage
 * (`complete` turns true at the end), so that a run cut short still leaves what it measured.
 * Evaluator cases that would start after --deadline seconds are skipped, and say so.
 *
 *   bash .device/run.sh [--size small|full] [--out DIR] [--work DIR] [--deadline SECONDS] [--no-eval]
 *                       [--eval-cases SHAPE:FORMAT,...]   e.g. 0.5b:q4,1.5b:q4 (default: the size's cases)
 */

interface Sizes {
  bits: BitCheckSizes;
  /** Splits each computer task into dispatches of this many elements at most (small: odd splits inside packed words). */
  maxElementsPerDispatch?: number;
  stream: { bytesPerRole: number; chunkBytes: number[]; tasksInFlight: number };
  resident: { elementsPerRole: number; runs: number };
  /** The recipe kernel's timing: bf16 elements per chunk, best of `runs`, and chunks at once. */
  recipe: { elements: number; runs: number; chunksInFlight: number };
  evalCases: EvalCase[];
  evalPlans: BatchPlan[];
}

const GIB = 2 ** 30;
const MIB = 2 ** 20;
const SIZES: Record<"small" | "full", Sizes> = {
  small: {
    bits: { specialElements: 1031, randomElements: 20_001, convertF32Elements: 65_536 },
    maxElementsPerDispatch: 4099,
    stream: { bytesPerRole: 16 * MIB, chunkBytes: [2 * MIB], tasksInFlight: 4 },
    resident: { elementsPerRole: 16 * MIB, runs: 2 },
    recipe: { elements: MIB / 4, runs: 2, chunksInFlight: 4 },
    evalCases: [
      { preset: "small", format: "q4" },
      { preset: "small", format: "f16" },
    ],
    evalPlans: [
      { batch: 1, newTokens: 4, runs: 1 },
      { batch: 4, newTokens: 4, runs: 1 },
    ],
  },
  full: {
    bits: { specialElements: 100_003, randomElements: 4 * MIB + 4097, convertF32Elements: 4 * MIB + 3 },
    stream: { bytesPerRole: GIB, chunkBytes: [8 * MIB, 2 * MIB], tasksInFlight: 4 },
    resident: { elementsPerRole: GIB / 2, runs: 3 },
    recipe: { elements: 4 * MIB, runs: 5, chunksInFlight: 8 },
    // q4 (the studio's choice on WebGPU) of both shapes first: on one CPU core, generating 1.5B and
    // building its q4 graph take about two minutes, so a 300 s run may not reach the f16 cases.
    evalCases: [
      { preset: "qwen2.5-0.5b", format: "q4" },
      { preset: "qwen2.5-1.5b", format: "q4" },
      { preset: "qwen2.5-0.5b", format: "f16" },
      { preset: "qwen2.5-1.5b", format: "f16" },
    ],
    evalPlans: [
      { batch: 1, newTokens: 32, runs: 2 },
      { batch: 16, newTokens: 16, runs: 1 },
    ],
  },
};

interface Results {
  complete: boolean;
  size: "small" | "full";
  node: string;
  adapter?: DawnGpu["adapter"] & { mergeKernelAdapterName: string; mergeKernelSoftware: boolean; maxElementsPerDispatch: number };
  bitExact: BitCheckGroup[];
  stream: StreamMeasurement[];
  resident?: ResidentMeasurement;
  recipeBitExact: RecipeBitCheck[];
  recipeKernel: RecipeKernelTiming[];
  eval: EvalCaseResult[];
  errors: string[];
}

/** Shapes by the names --eval-cases takes. */
const EVAL_PRESETS: Record<string, EvalCase["preset"]> = { tiny: "tiny", small: "small", "0.5b": "qwen2.5-0.5b", "1.5b": "qwen2.5-1.5b" };

/** --eval-cases: comma-separated SHAPE:FORMAT, e.g. 0.5b:q4,1.5b:f16, run in that order. */
function parseEvalCases(text: string): EvalCase[] {
  return text.split(",").map((item) => {
    const [shape = "", format = ""] = item.trim().split(":");
    const preset = EVAL_PRESETS[shape];
    if (!preset || !(QWEN2_ONNX_FORMATS as readonly string[]).includes(format)) {
      throw new Error(`--eval-cases takes comma-separated SHAPE:FORMAT (shapes ${Object.keys(EVAL_PRESETS).join(", ")}; formats ${QWEN2_ONNX_FORMATS.join(", ")}), got ${JSON.stringify(item)}`);
    }
    return { preset, format: format as Qwen2OnnxFormat };
  });
}

const gbps = (bytesPerSecond: number) => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "full" },
      out: { type: "string", default: process.env.OUT ?? "device-out" },
      work: { type: "string", default: join(tmpdir(), "merge-studio-device") },
      deadline: { type: "string", default: "150" },
      "no-eval": { type: "boolean", default: false },
      "eval-cases": { type: "string" },
    },
  });
  const size = values.size;
  if (size !== "small" && size !== "full") throw new Error(`--size takes small or full, got ${JSON.stringify(size)}`);
  const deadlineSeconds = Number(values.deadline);
  if (!(deadlineSeconds > 0)) throw new Error(`--deadline takes a positive number of seconds, got ${JSON.stringify(values.deadline)}`);
  const sizes = SIZES[size];
  const evalCases = values["eval-cases"] === undefined ? sizes.evalCases : parseEvalCases(values["eval-cases"]);
  const started = performance.now();
  const results: Results = { complete: false, size, node: process.version, bitExact: [], stream: [], recipeBitExact: [], recipeKernel: [], eval: [], errors: [] };
  await mkdir(values.out, { recursive: true });
  let saving = Promise.resolve();
  /** Writes results.json after the writes before it, so that the file always holds the latest complete state. */
  const save = () => (saving = saving.then(() => writeFile(join(values.out, "results.json"), `${JSON.stringify(results, null, 2)}\n`)));

  const dawn = await openDawnGpu();
  const request = await requestWebGpuMergeKernel(dawn.gpu);
  if ("unavailable" in request) throw new Error(`requestWebGpuMergeKernel: ${request.unavailable}`);
  const { kernel } = request;
  results.adapter = { ...dawn.adapter, mergeKernelAdapterName: kernel.adapterName, mergeKernelSoftware: kernel.software, maxElementsPerDispatch: kernel.maxElements };
  const a = dawn.adapter;
  log(`ADAPTER ${a.description} | vendor ${a.vendor} | architecture ${a.architecture} | device ${a.device} | fallback ${a.isFallbackAdapter} | shader-f16 ${a.shaderF16}`);
  log(`ADAPTER limits: maxBufferSize ${a.maxBufferSize}, maxStorageBufferBindingSize ${a.maxStorageBufferBindingSize}; merge kernel: "${kernel.adapterName}", ${kernel.maxElements} elements per dispatch`);
  await save();

  const gpuFailures: string[] = [];
  const computer: ChunkComputer = createWebGpuComputer(kernel, {
    fallback: { compute: () => Promise.reject(new Error("the GPU computer fell back to the CPU")) },
    onGpuFailure: (reason) => gpuFailures.push(reason),
    ...(sizes.maxElementsPerDispatch ? { maxElementsPerDispatch: sizes.maxElementsPerDispatch } : {}),
  });
  try {
    for (const check of [
      () => checkEveryDtypeMix(computer, sizes.bits.specialElements),
      () => checkConversions(computer, sizes.bits.convertF32Elements),
      () => checkLargeRandomChunks(computer, sizes.bits.randomElements),
    ]) {
      const group = await check();
      results.bitExact.push(group);
      const verdict = group.mismatchedElements === 0 ? "PASS, bit-exact" : `FAIL, ${group.mismatchedElements} elements differ in ${group.mismatches.length}+ cases`;
      log(`BIT-EXACT ${group.name}: ${group.cases} cases, ${group.elements} elements compared: ${verdict} (${group.seconds.toFixed(1)} s)`);
      for (const mismatch of group.mismatches) log(`  ${mismatch}`);
      await save();
    }
    for (const chunkBytes of sizes.stream.chunkBytes) {
      const measured = await measureStream(computer, sizes.stream.bytesPerRole, chunkBytes, sizes.stream.tasksInFlight);
      results.stream.push(measured);
      log(
        `STREAM bf16 merge through createWebGpuComputer, ${measured.inputBytesPerRole / MIB} MiB per input in ${chunkBytes / MIB} MiB chunks, ${measured.tasksInFlight} tasks in flight: ` +
          `${measured.seconds.toFixed(3)} s, output ${gbps(measured.outputBytesPerSecond)}, input ${gbps(measured.inputBytesPerSecond)}; spot checks ${measured.spotChecksEqual ? "equal mergeChunk" : "DIFFER from mergeChunk"}`,
      );
      await save();
    }
  } finally {
    await computer.close?.();
  }
  if (gpuFailures.length > 0) {
    results.errors.push(...gpuFailures.map((reason) => `merge computer: ${reason}`));
    log(`GPU FAILURES: ${gpuFailures.join("; ")}`);
  }

  const residentRequest = await requestWebGpuMergeKernel(dawn.gpu);
  if ("unavailable" in residentRequest) throw new Error(`requestWebGpuMergeKernel: ${residentRequest.unavailable}`);
  try {
    const resident = await measureResidentKernel(residentRequest.kernel, sizes.resident.elementsPerRole, sizes.resident.runs);
    results.resident = resident;
    log(
      `KERNEL bf16 merge on resident buffers, ${resident.elementsPerRole} elements per input in ${resident.dispatches} dispatches of ${resident.elementsPerDispatch}, best of ${sizes.resident.runs}: ` +
        `${(resident.seconds * 1000).toFixed(2)} ms, output ${gbps(resident.outputBytesPerSecond)}, input ${gbps(resident.inputBytesPerSecond)}, ` +
        `read + write ${gbps(resident.outputBytesPerSecond + resident.inputBytesPerSecond)}`,
    );
  } finally {
    residentRequest.kernel.device.destroy();
  }
  await save();

  const recipeRequest = await requestWebGpuMergeKernel(dawn.gpu);
  if ("unavailable" in recipeRequest) throw new Error(`requestWebGpuMergeKernel: ${recipeRequest.unavailable}`);
  try {
    const splitKernel = await createSplitRecipeKernel(recipeRequest.kernel.device);
    await checkRecipeKernelBits(recipeRequest.kernel.recipe, splitKernel, (check) => {
      results.recipeBitExact.push(check);
      const verdict = check.mismatchedCases === 0 ? "PASS, bit-exact" : `FAIL, ${check.mismatchedCases} cases differ`;
      log(`RECIPE BIT-EXACT ${check.name}: ${check.cases} cases against mergeRecipeChunk: ${verdict} (${check.seconds.toFixed(1)} s)`);
      for (const mismatch of check.mismatches) log(`  ${mismatch}`);
      void save();
    });
    splitKernel.destroy();
    const { elements, runs, chunksInFlight } = sizes.recipe;
    for (const timing of await measureRecipeKernel(recipeRequest.kernel, elements, runs, chunksInFlight)) {
      results.recipeKernel.push(timing);
      log(
        `RECIPE KERNEL ${timing.label}, ${timing.terms} term(s), ${elements} bf16 elements per chunk, best of ${runs}: ` +
          `${timing.oneChunkMBps.toFixed(0)} MB/s of input, ${timing.chunksInFlight} chunks in flight ${timing.inFlightMBps.toFixed(0)} MB/s`,
      );
    }
  } catch (error) {
    const message = `recipe kernel: ${error instanceof Error ? error.message : String(error)}`;
    results.errors.push(message);
    log(`RECIPE KERNEL FAILED: ${message}`);
  } finally {
    recipeRequest.kernel.device.destroy();
  }
  await save();

  if (!values["no-eval"]) {
    try {
      const ort = await import("onnxruntime-web/webgpu");
      // The bundle lies in .device/, onnxruntime-web's asyncify .mjs and .wasm in .device/ort/.
      ort.env.wasm.wasmPaths = `${join(dirname(fileURLToPath(import.meta.url)), "ort")}/`;
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = "error";
      await measureEvalOnWebGpu(ort as unknown as OnnxRuntime, evalCases, sizes.evalPlans, values.work, started + deadlineSeconds * 1000, log, (result) => {
        results.eval.push(result);
        void save();
      });
    } catch (error) {
      const message = `evaluator: ${error instanceof Error ? error.message : String(error)}`;
      results.errors.push(message);
      log(`EVAL FAILED: ${message}`);
    }
  }
  results.complete = true;
  await save();
  const failed =
    results.bitExact.some((group) => group.mismatchedElements > 0) ||
    results.stream.some((stream) => !stream.spotChecksEqual) ||
    results.recipeBitExact.some((check) => check.mismatchedCases > 0) ||
    results.errors.length > 0;
  const evalRan = results.eval.filter((result) => result.skipped === undefined).length;
  const evalFailed = results.eval.filter((result) => result.skipped?.startsWith("failed")).length;
  log(
    `DONE in ${((performance.now() - started) / 1000).toFixed(1)} s: ${failed ? "SOME CHECKS FAILED" : "every merge- and recipe-kernel check passed"}; ` +
      `evaluator: ${evalRan} of ${results.eval.length} cases ran, ${evalFailed} failed; results in ${join(values.out, "results.json")}`,
  );
  process.exit(failed ? 1 : 0);
}

main().catch((error: unknown) => {
  log(`HARNESS FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(2);
});
