import * as ort from "onnxruntime-web";
import { inspectModel, type ModelInfo } from "../src/core/model/inspectModel.ts";
import { openHubSource } from "../src/core/sources/openHubSource.ts";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { readQwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { releaseExternalData } from "../src/eval/onnx/releaseExternalData.ts";
import { measureGemmRates } from "./computeBound.ts";
import { measureBatchGeneration, type BatchMeasurement, type BatchPlan } from "./measureBatchGeneration.ts";

/**
 * The page side of bench/eval.ts, bundled by it and served from the local Hub server's origin:
 * reads a model from that Hub, builds its graph once and runs onnxruntime-web's wasm provider at
 * each batch size of the request; times a GEMM of the model's shapes in the same format
 * (bench/computeBound.ts) on the same threads, at each batch's rows and at a prefill's.
 */

export interface EvalBenchRequest {
  repo: string;
  format: Qwen2OnnxFormat;
  /** At least as many as the largest batch; a batch of B takes the first B. */
  prompts: number[][];
  threads: number;
  batches: BatchPlan[];
  /** Row counts at which the GEMM rate is timed. */
  gemmRows: number[];
}

/** What runModel measures. */
export interface EvalBenchModelResult {
  buildSeconds: number;
  sessionSeconds: number;
  /** The rates of each batch size, in the request's order. */
  batches: BatchMeasurement[];
  threads: number;
}

/** What measureBounds measures. */
export interface EvalBenchBounds {
  copyBytesPerSecond: number;
  /** Matrix-product rate of the format's kernels at the model's shapes by row count (bench/computeBound.ts). */
  gemmFlopsPerSecond: Record<number, number>;
}

export type EvalBenchResult = EvalBenchModelResult & EvalBenchBounds;

/**
 * Bytes copied per second by `threads` workers at once, each copying its own 256 MiB with
 * TypedArray.set 5 times after a shared start (the page is cross-origin isolated, so they can share
 * a SharedArrayBuffer to start together); the sum of each worker's best rate.
 */
async function measureCopyBandwidth(threads: number): Promise<number> {
  const start = new Int32Array(new SharedArrayBuffer(4));
  const source = `
    onmessage = ({ data: start }) => {
      const bytes = 256 * 2 ** 20;
      const from = new Uint8Array(bytes).fill(1);
      const to = new Uint8Array(bytes);
      to.set(from);
      postMessage("ready");
      Atomics.wait(start, 0, 0);
      let best = 0;
      for (let run = 0; run < 5; run++) {
        const started = performance.now();
        to.set(from);
        best = Math.max(best, bytes / ((performance.now() - started) / 1000));
      }
      postMessage(best);
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const workers = Array.from({ length: threads }, () => new Worker(url));
  try {
    const ready = workers.map((worker) => new Promise((resolve) => worker.addEventListener("message", resolve, { once: true })));
    const rates = workers.map(
      (worker) => new Promise<number>((resolve) => worker.addEventListener("message", (event: MessageEvent) => typeof event.data === "number" && resolve(event.data))),
    );
    for (const worker of workers) worker.postMessage(start);
    await Promise.all(ready);
    Atomics.store(start, 0, 1);
    Atomics.notify(start, 0);
    return (await Promise.all(rates)).reduce((sum, rate) => sum + rate, 0);
  } finally {
    for (const worker of workers) worker.terminate();
    URL.revokeObjectURL(url);
  }
}

/** The glue's own file, so that onnxruntime's worker threads load it rather than this bundle. */
function configureWasm(threads: number): void {
  ort.env.wasm.wasmPaths = {
    wasm: new URL("ort-wasm-simd-threaded.jsep.wasm", document.baseURI).href,
    mjs: new URL("ort-wasm-simd-threaded.jsep.mjs", document.baseURI).href,
  };
  ort.env.wasm.numThreads = threads;
}

/**
 * Loads the model once and generates at each batch size: what the studio does, measured first so
 * that the page's peak memory is this alone.
 */
async function runModel(request: EvalBenchRequest): Promise<EvalBenchModelResult> {
  configureWasm(request.threads);
  const source = await openHubSource(request.repo, { hubUrl: location.origin });
  try {
    const { decoder, buildSeconds, sessionSeconds } = await openDecoder(await inspectModel(source), request.format);
    try {
      const batches: BatchMeasurement[] = [];
      for (const plan of request.batches) batches.push(await measureBatchGeneration(decoder, request.prompts, plan));
      return { buildSeconds, sessionSeconds, batches, threads: ort.env.wasm.numThreads ?? 1 };
    } finally {
      await decoder.release();
    }
  } finally {
    await source.close?.();
  }
}

/** The bounds' measurements, on the same threads, after runModel. */
async function measureBounds(request: EvalBenchRequest): Promise<EvalBenchBounds> {
  configureWasm(request.threads);
  const source = await openHubSource(request.repo, { hubUrl: location.origin });
  try {
    const config = readQwen2Config((await inspectModel(source)).config);
    return {
      copyBytesPerSecond: await measureCopyBandwidth(request.threads),
      gemmFlopsPerSecond: await measureGemmRates(ort, config, request.format, { executionProviders: ["wasm"] }, request.gemmRows),
    };
  } finally {
    await source.close?.();
  }
}

/** Builds the graph and opens its session; the graph's buffers are dropped on return. */
async function openDecoder(model: ModelInfo, format: Qwen2OnnxFormat): Promise<{ decoder: OnnxCausalDecoder; buildSeconds: number; sessionSeconds: number }> {
  let started = performance.now();
  const built = await buildQwen2Onnx(model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" });
  const buildSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { executionProviders: ["wasm"] } });
  releaseExternalData(built);
  return { decoder, buildSeconds, sessionSeconds: (performance.now() - started) / 1000 };
}

Object.assign(window, { __evalBench: { runModel, measureBounds } });
