import * as ort from "onnxruntime-web";
import ortWasmUrl from "onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url";
import type { ModelInfo } from "../src/core/model/inspectModel.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { loadEvalModel, readModelTokenizer } from "../src/eval/loadEvalModel.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { readQwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { missingChatTemplateWarning } from "../src/eval/tokenizer/missingChatTemplateWarning.ts";
import type { TensorLoader } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { runGsm8kEvaluation, type EvalModelSpec } from "../src/eval/runGsm8kEvaluation.ts";
import { createEvalTask } from "../src/eval/tasks/createEvalTask.ts";
import { mergedTensorLoader } from "../src/eval/weights/mergedTensorLoader.ts";
import type { BrowserEvalRequest, EvalRole, EvalWorkerCommand, EvalWorkerEvent } from "../src/browser/evalWorkerMessages.ts";
import { recipeInputOpener } from "../src/browser/openInputSource.ts";

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (event: EvalWorkerEvent) => scope.postMessage(event);
/** Streamed text is posted at most this often per problem, and progress this often (answers always are). */
const TOKEN_INTERVAL_MS = 250;
const PROGRESS_INTERVAL_MS = 250;
/** 32-bit WebAssembly memory: weights, KV cache and activations all live in it (the automatic batch size's budget). */
const WASM_MEMORY_BYTES = 4 * 2 ** 30;

// The .wasm is served as a Vite asset; its JavaScript glue is in the bundle.
ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
// Threads need a cross-origin isolated page (SharedArrayBuffer); elsewhere onnxruntime runs on one.
// The count includes this worker's thread, which runs the session while the others help: all cores.
ort.env.wasm.numThreads = scope.crossOriginIsolated ? navigator.hardwareConcurrency : 1;

let started = false;

// onnxruntime-web's WebAssembly threads are workers started from this same script (its glue is in
// the bundle), named "em-pthread...": their messages belong to onnxruntime, not to this handler.
if (!scope.name.startsWith("em-pthread")) {
  scope.onmessage = (event: MessageEvent<EvalWorkerCommand>) => {
    if (started) return;
    started = true;
    void run(event.data.request);
  };
}

/**
 * Evaluates the request's one model: the target (or plus / minus) from its own tensors, a merged
 * model from its recipe's tensors computed as they load (nothing is saved). The page terminates
 * this worker when the model is done, and its WebAssembly memory goes with it.
 */
async function run(request: BrowserEvalRequest): Promise<void> {
  let sources: ModelSource[] = [];
  const { model: descriptor } = request;
  try {
    if (descriptor.kind === "merged" && descriptor.recipe === null) throw new Error(`${descriptor.label}: a merged model needs its recipe`);
    const opened = await openAndPlan(descriptor.recipe ?? request.recipe, recipeInputOpener(request.inputs, request));
    sources = opened.sources;
    const { plan } = opened;
    const [vector] = plan.models.vectors;
    const models: Record<Exclude<EvalRole, "merged">, ModelInfo> = { target: plan.models.target, plus: vector!.plus, minus: vector!.minus };
    // An architecture the graph builder does not support is refused before any weight is read.
    readQwen2Config(models.target.config);
    const { kind } = descriptor;
    const { model, loadTensor }: { model: ModelInfo; loadTensor: TensorLoader } =
      kind === "merged" ? { model: models.target, loadTensor: mergedTensorLoader(plan) } : { model: models[kind], loadTensor: modelTensorLoader(models[kind]) };
    const spec: EvalModelSpec = {
      ...descriptor,
      load: async (_, onPhase) => {
        const tokenizer = await readModelTokenizer(model);
        if (tokenizer.chatTemplate === null) post({ type: "notice", modelId: descriptor.id, message: missingChatTemplateWarning(model.source.label) });
        const loaded = await loadEvalModel(ort, { config: model.config, loadTensor, tokenizer }, request.format, {
          sessionOptions: { executionProviders: [request.executionProvider] },
          kvCacheOnGpu: request.executionProvider === "webgpu",
          onPhase,
        });
        // onnxruntime settles its thread count when the session starts (1 where threads cannot run).
        post({ type: "threads", threads: ort.env.wasm.numThreads ?? 1, crossOriginIsolated: scope.crossOriginIsolated });
        return loaded;
      },
    };
    const task = await createEvalTask(request.task, request.problems);
    const lastTokenPost = new Map<number, number>();
    let lastProgressPost = 0;
    await runGsm8kEvaluation([spec], { task, chatTemplate: request.chatTemplate, maxNewTokens: request.maxNewTokens, batchSize: request.batchSize, memoryBytes: WASM_MEMORY_BYTES }, {
      onLoadProgress: (modelId, phase) => post({ type: "loading", modelId, phase }),
      onModelStart: (modelId, batchSize) => post({ type: "modelStart", modelId, batchSize }),
      onToken: (modelId, problemIndex, text, tokensPerSecond) => {
        const now = performance.now();
        if (now - (lastTokenPost.get(problemIndex) ?? 0) < TOKEN_INTERVAL_MS) return;
        lastTokenPost.set(problemIndex, now);
        post({ type: "token", modelId, problemIndex, text, tokensPerSecond });
      },
      onProgress: (modelId, progress) => {
        const now = performance.now();
        if (now - lastProgressPost < PROGRESS_INTERVAL_MS && progress.done < progress.total) return;
        lastProgressPost = now;
        post({ type: "progress", modelId, progress });
      },
      onAnswer: (modelId, result) => post({ type: "answer", modelId, result }),
      onModelDone: (modelId, stats) => post({ type: "modelDone", modelId, stats }),
    });
    post({ type: "done" });
  } catch (error) {
    post({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  } finally {
    await Promise.all(sources.map((source) => source.close?.()));
  }
}
