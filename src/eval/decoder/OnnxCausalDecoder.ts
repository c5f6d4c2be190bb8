import type { InferenceSession, Tensor } from "onnxruntime-web";
import { INPUT_IDS, LOGITS, pastKeyValueNames, presentNames, type Qwen2Onnx } from "../onnx/buildQwen2Onnx.ts";

/**
 * The parts of an onnxruntime package the decoder uses. onnxruntime-node and onnxruntime-web both
 * export these (from onnxruntime-common), so pass either module: `import * as ort from "onnxruntime-node"`.
 */
export interface OnnxRuntime {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

export interface OnnxCausalDecoderOptions {
  /** Passed to InferenceSession.create (execution providers, threads, ...); externalData is added. */
  sessionOptions?: InferenceSession.SessionOptions;
  /**
   * Keep the KV cache where the execution provider computed it (WebGPU: GPU buffers) and feed each
   * step's present.* back as the next step's past_key_values.* without a copy to the CPU.
   */
  kvCacheOnGpu?: boolean;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation stops after any of these tokens (which is included in the result). */
  eosTokenIds?: readonly number[];
  /** Called for each new token as soon as it is chosen. */
  onToken?: (token: number, index: number) => void;
  /** Asked after each new token (after onToken): true stops generation (e.g. a stop sequence in the text so far). */
  stopWhen?: () => boolean;
  signal?: AbortSignal;
}

export interface GenerationResult {
  /** The new tokens (greedy), ending with an eos token when stopReason is "eos". */
  tokens: number[];
  /** "stop_sequence": stopWhen returned true (callers use it to stop at a stop sequence in the decoded text). */
  stopReason: "eos" | "stop_sequence" | "max_new_tokens";
  promptTokens: number;
  /** Seconds of the prompt's forward pass (which also gives the first new token). */
  prefillSeconds: number;
  /** Seconds of the single-token steps that gave the other tokens. */
  decodeSeconds: number;
  prefillTokensPerSecond: number;
  /** Tokens per second of the single-token steps (NaN when there was none). */
  decodeTokensPerSecond: number;
}

/**
 * Runs a decoder-only graph built by buildQwen2Onnx with its KV cache: `forward` appends tokens
 * to the cache and returns their logits, `generate` does greedy decoding. The built model's buffers
 * are not kept: drop them after `create` to free their memory.
 */
export class OnnxCausalDecoder {
  private past: Map<string, Tensor>;
  private cachedLength = 0;

  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: InferenceSession,
    private readonly shape: { numLayers: number; numKvHeads: number; headDim: number; vocabSize: number },
    private readonly kvCacheOnGpu: boolean,
  ) {
    this.past = this.emptyCache();
  }

  static async create(ort: OnnxRuntime, model: Pick<Qwen2Onnx, "model" | "externalData" | "config" | "format">, options: OnnxCausalDecoderOptions = {}): Promise<OnnxCausalDecoder> {
    const { numLayers, numKvHeads, headDim, vocabSize } = model.config;
    const providers = (options.sessionOptions?.executionProviders ?? []).map((provider) => (typeof provider === "string" ? provider : provider.name));
    if (model.format === "f16" && providers.includes("webgpu")) await assertWebGpuFloat16();
    const kvCacheOnGpu = options.kvCacheOnGpu ?? false;
    const sessionOptions: InferenceSession.SessionOptions = { ...options.sessionOptions, externalData: model.externalData };
    if (kvCacheOnGpu) {
      const locations: Record<string, "gpu-buffer"> = {};
      for (let layer = 0; layer < numLayers; layer++) {
        const present = presentNames(layer);
        locations[present.key] = "gpu-buffer";
        locations[present.value] = "gpu-buffer";
      }
      sessionOptions.preferredOutputLocation = locations;
    }
    const session = await ort.InferenceSession.create(model.model, sessionOptions);
    return new OnnxCausalDecoder(ort, session, { numLayers, numKvHeads, headDim, vocabSize }, kvCacheOnGpu);
  }

  get vocabSize(): number {
    return this.shape.vocabSize;
  }

  /** Positions held in the KV cache. */
  get cacheLength(): number {
    return this.cachedLength;
  }

  /** Empties the KV cache. */
  reset(): void {
    this.disposeCache();
    this.past = this.emptyCache();
    this.cachedLength = 0;
  }

  /**
   * Runs `ids` at the positions after the cache and appends them to it. Returns their logits,
   * row-major [ids.length, vocab] (one row for a graph built with logits "last"; only the last
   * row with `lastOnly`).
   */
  async forward(ids: readonly number[], options: { lastOnly?: boolean } = {}): Promise<Float32Array> {
    if (ids.length === 0) throw new Error("forward needs at least one token");
    const feeds: Record<string, Tensor> = {
      [INPUT_IDS]: new this.ort.Tensor("int64", BigInt64Array.from(ids, (id) => BigInt(id)), [1, ids.length]),
    };
    for (const [name, tensor] of this.past) feeds[name] = tensor;
    const outputs = await this.session.run(feeds);
    const next = new Map<string, Tensor>();
    for (let layer = 0; layer < this.shape.numLayers; layer++) {
      const past = pastKeyValueNames(layer);
      const present = presentNames(layer);
      next.set(past.key, outputs[present.key]!);
      next.set(past.value, outputs[present.value]!);
    }
    this.disposeCache();
    this.past = next;
    this.cachedLength += ids.length;
    const logits = outputs[LOGITS]!.data as Float32Array;
    return options.lastOnly ? logits.slice(logits.length - this.shape.vocabSize) : logits;
  }

  /** Greedy decoding of `promptIds` from an empty cache; each token is the first index of the largest logit. */
  async generate(promptIds: readonly number[], options: GenerateOptions): Promise<GenerationResult> {
    const eos = new Set(options.eosTokenIds ?? []);
    this.reset();
    const tokens: number[] = [];
    let stopReason: GenerationResult["stopReason"] = "max_new_tokens";
    const prefillStart = performance.now();
    let logits = await this.forward(promptIds, { lastOnly: true });
    const prefillSeconds = (performance.now() - prefillStart) / 1000;
    const decodeStart = performance.now();
    while (tokens.length < options.maxNewTokens) {
      options.signal?.throwIfAborted();
      const token = argmax(logits);
      tokens.push(token);
      options.onToken?.(token, tokens.length - 1);
      if (eos.has(token)) {
        stopReason = "eos";
        break;
      }
      if (options.stopWhen?.()) {
        stopReason = "stop_sequence";
        break;
      }
      if (tokens.length === options.maxNewTokens) break;
      logits = await this.forward([token], { lastOnly: true });
    }
    const decodeSeconds = (performance.now() - decodeStart) / 1000;
    const decodeSteps = tokens.length - 1;
    return {
      tokens,
      stopReason,
      promptTokens: promptIds.length,
      prefillSeconds,
      decodeSeconds,
      prefillTokensPerSecond: promptIds.length / prefillSeconds,
      decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / decodeSeconds : Number.NaN,
    };
  }

  async release(): Promise<void> {
    this.disposeCache();
    await this.session.release();
  }

  private emptyCache(): Map<string, Tensor> {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const cache = new Map<string, Tensor>();
    for (let layer = 0; layer < numLayers; layer++) {
      const past = pastKeyValueNames(layer);
      cache.set(past.key, new this.ort.Tensor("float32", new Float32Array(0), [1, numKvHeads, 0, headDim]));
      cache.set(past.value, new this.ort.Tensor("float32", new Float32Array(0), [1, numKvHeads, 0, headDim]));
    }
    return cache;
  }

  /** GPU tensors hold device memory until disposed; CPU tensors are left to the garbage collector. */
  private disposeCache(): void {
    if (!this.kvCacheOnGpu) return;
    for (const tensor of this.past.values()) if (tensor.location === "gpu-buffer") tensor.dispose();
  }
}

/**
 * onnxruntime-web's WebGPU kernels for float16 need the adapter feature "shader-f16"; without it
 * their shaders fail to compile and the session returns zeros instead of an error.
 */
async function assertWebGpuFloat16(): Promise<void> {
  const adapter = await globalThis.navigator?.gpu?.requestAdapter();
  if (!adapter?.features.has("shader-f16")) {
    throw new Error('the f16 format on WebGPU needs the GPU feature "shader-f16", which this browser\'s WebGPU adapter does not offer; use f32 or q4');
  }
}

/** Index of the largest value (the first one on ties), as torch.argmax. */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
