import type { InferenceSession, Tensor } from "onnxruntime-web";
import { ATTENTION_MASK, INPUT_IDS, LOGITS, pastKeyValueNames, POSITION_IDS, presentNames, type Qwen2Onnx } from "../onnx/buildQwen2Onnx.ts";

/**
 * The parts of an onnxruntime package the decoder uses. onnxruntime-node and onnxruntime-web both
 * export these (from onnxruntime-common), so pass either module: `import * as ort from "onnxruntime-node"`.
 */
export interface OnnxRuntime {
  InferenceSession: { create(model: Uint8Array | string, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

/** A built model for OnnxCausalDecoder.create: in memory, or the path of its .onnx file on disk (onnxruntime-node). */
export type OnnxDecoderModel = Pick<Qwen2Onnx, "config" | "format"> & ({ model: Uint8Array; externalData: Qwen2Onnx["externalData"] } | { model: string });

export interface OnnxCausalDecoderOptions {
  /** Passed to InferenceSession.create (execution providers, threads, ...); externalData is added for a model in memory. */
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

/** One forward pass of generateBatch. */
export interface BatchStep {
  /** "prefill": prompts entering the batch; "decode": one new token for each row of the batch. */
  kind: "prefill" | "decode";
  /** Rows the pass computed. */
  rows: number;
  /** Slots the pass computed (rows x its longest prompt for a prefill, padding included). */
  slots: number;
  seconds: number;
}

export interface BatchGenerateOptions {
  /** Most prompts decoded together (the batch's rows). */
  batchSize: number;
  maxNewTokens: number;
  /** A row stops after any of these tokens (which is included in its result). */
  eosTokenIds?: readonly number[];
  /** Called for each new token of prompt `prompt` as soon as it is chosen. */
  onToken?: (prompt: number, token: number, index: number) => void;
  /** Asked after each new token of `prompt` (after onToken): true stops that row. */
  stopWhen?: (prompt: number) => boolean;
  /** Called after each forward pass, before the tokens it gives are chosen (onToken, onFinish). */
  onStep?: (step: BatchStep) => void;
  /** Called when prompt `prompt`'s row stops, with its result. */
  onFinish?: (prompt: number, result: GenerationResult) => void;
  /**
   * Most slots (prompts x the longest of them, padding included) one prefill pass takes, default
   * 2048: the activations of a pass grow with its slots (about 2 x intermediate_size floats each).
   * A longer prompt still goes alone.
   */
  maxPrefillSlots?: number;
  signal?: AbortSignal;
}

export interface GenerationResult {
  /** The new tokens (greedy), ending with an eos token when stopReason is "eos". */
  tokens: number[];
  /** "stop_sequence": stopWhen returned true (callers use it to stop at a stop sequence in the decoded text). */
  stopReason: "eos" | "stop_sequence" | "max_new_tokens";
  promptTokens: number;
  /** Seconds of the forward pass that prefilled the prompt (with the prompts that joined the batch with it) and gave its first token. */
  prefillSeconds: number;
  /** Seconds from the first new token to the last (the row's share of the batch's decode steps). */
  decodeSeconds: number;
  /** The prompt's tokens over prefillSeconds. */
  prefillTokensPerSecond: number;
  /** Tokens per second of this row after its first token (NaN when there was no other token). */
  decodeTokensPerSecond: number;
}

/**
 * Rows of token sequences and their KV cache, right-aligned: slot s of row r holds a token when
 * masks[r][s] is 1 (rows are left-padded to the longest). Tensors are [rows, kv_heads, length, head_dim].
 */
interface KvBatch {
  past: Map<string, Tensor>;
  masks: Uint8Array[];
  /** Tokens each row holds: the position of its next token. */
  positions: number[];
  length: number;
}

/** A prompt being answered in a row of generateBatch. */
interface ActiveRow {
  prompt: number;
  tokens: number[];
  prefillSeconds: number;
  /** performance.now() when its first token was chosen. */
  firstTokenAt: number;
}

const DEFAULT_MAX_PREFILL_SLOTS = 2048;
/** Token id fed in padding slots (masked: any id of the vocabulary does). */
const PADDING_ID = 0n;

/**
 * Runs a decoder-only graph built by buildQwen2Onnx with its KV cache: `forward` appends tokens
 * to the cache and returns their logits, `generate` does greedy decoding of one prompt and
 * `generateBatch` of many, several rows at a time (continuous batching: a finished row leaves the
 * batch and the next prompt takes its place). The built model's buffers are not kept: drop them
 * after `create` to free their memory.
 */
export class OnnxCausalDecoder {
  private state: KvBatch | undefined;

  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: InferenceSession,
    private readonly shape: { numLayers: number; numKvHeads: number; headDim: number; vocabSize: number },
    private readonly kvCacheOnGpu: boolean,
  ) {}

  /**
   * Opens a session on a model built by buildQwen2Onnx: its proto and external data files held in
   * memory, or (onnxruntime-node) the path of its .onnx file, whose external data files onnxruntime
   * reads from the same folder (src/eval/node/openDecoderFromTempFolder.ts).
   */
  static async create(ort: OnnxRuntime, model: OnnxDecoderModel, options: OnnxCausalDecoderOptions = {}): Promise<OnnxCausalDecoder> {
    const { numLayers, numKvHeads, headDim, vocabSize } = model.config;
    const providers = (options.sessionOptions?.executionProviders ?? []).map((provider) => (typeof provider === "string" ? provider : provider.name));
    if (model.format === "f16" && providers.includes("webgpu")) await assertWebGpuFloat16();
    const kvCacheOnGpu = options.kvCacheOnGpu ?? false;
    const sessionOptions: InferenceSession.SessionOptions = { ...options.sessionOptions };
    // q8's MatMulInteger runs onnxruntime's u8s8 kernel, which on x86 CPUs without VNNI (AVX2, AVX-512)
    // adds pairs of uint8 x int8 products in 16 bits with saturation: logits off by a third of their
    // scale on such a CPU here. This entry has onnxruntime turn the int8 weights into uint8 there, for
    // its exact (slower) u8u8 kernel; on other CPUs and in wasm it changes nothing.
    const extraSession = (sessionOptions.extra?.session ?? {}) as Record<string, unknown>;
    sessionOptions.extra = { ...sessionOptions.extra, session: { ...extraSession, x64quantprecision: "1" } };
    if ("externalData" in model) sessionOptions.externalData = model.externalData;
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

  /** Slots held in the KV cache of forward / forwardBatch (padding included). */
  get cacheLength(): number {
    return this.state?.length ?? 0;
  }

  /** Empties the KV cache of forward / forwardBatch. */
  reset(): void {
    if (this.state) this.disposeBatch(this.state);
    this.state = undefined;
  }

  /**
   * Runs `ids` at the positions after the cache and appends them to it. Returns their logits,
   * row-major [ids.length, vocab] (one row for a graph built with logits "last"; only the last
   * row with `lastOnly`).
   */
  async forward(ids: readonly number[], options: { lastOnly?: boolean } = {}): Promise<Float32Array> {
    return (await this.forwardBatch([ids], options))[0]!;
  }

  /**
   * Appends rows[r] to row r of the cache (rows of different lengths are left-padded) and returns
   * each row's logits as `forward` does. The first call after reset (or create) sets the batch's rows.
   */
  async forwardBatch(rows: ReadonlyArray<readonly number[]>, options: { lastOnly?: boolean } = {}): Promise<Float32Array[]> {
    const state = this.state ?? this.emptyBatch(rows.length);
    if (rows.length !== state.masks.length) throw new Error(`forwardBatch got ${rows.length} rows; the cache holds ${state.masks.length} (reset to start another batch)`);
    const { next, logits } = await this.run(state, rows);
    this.disposeBatch(state);
    this.state = next;
    return rows.map((ids, row) => this.rowLogits(logits, row, ids.length, options.lastOnly ?? false));
  }

  /** Greedy decoding of `promptIds` in a cache of its own; each token is the first index of the largest logit. */
  async generate(promptIds: readonly number[], options: GenerateOptions): Promise<GenerationResult> {
    const { onToken, stopWhen, ...rest } = options;
    const [result] = await this.generateBatch([promptIds], {
      ...rest,
      batchSize: 1,
      onToken: onToken && ((_, token, index) => onToken(token, index)),
      stopWhen: stopWhen && (() => stopWhen()),
    });
    return result!;
  }

  /**
   * Greedy decoding of every prompt, at most `batchSize` rows at a time, each in a KV cache of the
   * batch's own (the cache of forward is left alone). Prompts enter in order: when rows finish (eos,
   * stopWhen, maxNewTokens) they leave the batch and the next prompts are prefilled together and
   * join it. A row's tokens do not depend on the batch: its padding slots are masked, and its
   * positions count its own tokens only. Results are in the order of `prompts`.
   */
  async generateBatch(prompts: ReadonlyArray<readonly number[]>, options: BatchGenerateOptions): Promise<GenerationResult[]> {
    const { batchSize, maxNewTokens } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`the batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
    const empty = prompts.findIndex((prompt) => prompt.length === 0);
    if (empty >= 0) throw new Error(`prompt ${empty} has no tokens`);
    const eos = new Set(options.eosTokenIds ?? []);
    const maxPrefillSlots = options.maxPrefillSlots ?? DEFAULT_MAX_PREFILL_SLOTS;
    const results: GenerationResult[] = new Array(prompts.length);
    let rows: ActiveRow[] = [];
    /** The cache: row i of `rows` is row cacheRows[i] of `batch` (finished rows are dropped at the next copy). */
    let batch: KvBatch | undefined;
    let cacheRows: number[] = [];
    let nextPrompt = 0;
    /** Replaces the cache by its live rows followed by rows `added` of `from`, in one copy. */
    const rebuild = async (from?: KvBatch, added: readonly number[] = []) => {
      const previous = batch;
      batch = await this.gatherRows([...cacheRows.map((row) => ({ batch: previous!, row })), ...added.map((row) => ({ batch: from!, row }))]);
      if (previous) this.disposeBatch(previous);
      cacheRows = rows.map((_, index) => index);
    };

    /** Adds the row's next token; true when the row is finished (its result is then stored). */
    const advance = (row: ActiveRow, logits: Float32Array): boolean => {
      const token = argmax(logits);
      row.tokens.push(token);
      if (row.tokens.length === 1) row.firstTokenAt = performance.now();
      options.onToken?.(row.prompt, token, row.tokens.length - 1);
      let stopReason: GenerationResult["stopReason"] | undefined;
      if (eos.has(token)) stopReason = "eos";
      else if (options.stopWhen?.(row.prompt)) stopReason = "stop_sequence";
      else if (row.tokens.length === maxNewTokens) stopReason = "max_new_tokens";
      if (stopReason === undefined) return false;
      const promptTokens = prompts[row.prompt]!.length;
      const decodeSeconds = (performance.now() - row.firstTokenAt) / 1000;
      const decodeSteps = row.tokens.length - 1;
      results[row.prompt] = {
        tokens: row.tokens,
        stopReason,
        promptTokens,
        prefillSeconds: row.prefillSeconds,
        decodeSeconds,
        prefillTokensPerSecond: promptTokens / row.prefillSeconds,
        decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / decodeSeconds : Number.NaN,
      };
      options.onFinish?.(row.prompt, results[row.prompt]!);
      return true;
    };
    const timed = async (kind: BatchStep["kind"], from: KvBatch, ids: ReadonlyArray<readonly number[]>) => {
      const start = performance.now();
      const ran = await this.run(from, ids);
      const seconds = (performance.now() - start) / 1000;
      options.onStep?.({ kind, rows: ids.length, slots: ids.length * Math.max(...ids.map((row) => row.length)), seconds });
      return { ...ran, seconds };
    };

    try {
      for (;;) {
        while (rows.length < batchSize && nextPrompt < prompts.length) {
          options.signal?.throwIfAborted();
          const entering: number[] = [nextPrompt++];
          let longest = prompts[entering[0]!]!.length;
          while (rows.length + entering.length < batchSize && nextPrompt < prompts.length) {
            const candidate = Math.max(longest, prompts[nextPrompt]!.length);
            if ((entering.length + 1) * candidate > maxPrefillSlots) break;
            longest = candidate;
            entering.push(nextPrompt++);
          }
          const ids = entering.map((prompt) => prompts[prompt]!);
          const prefill = await timed("prefill", this.emptyBatch(entering.length), ids);
          const fresh = entering.map((prompt, index) => ({ row: { prompt, tokens: [], prefillSeconds: prefill.seconds, firstTokenAt: 0 } as ActiveRow, index }));
          const staying = fresh.filter(({ row, index }) => !advance(row, this.rowLogits(prefill.logits, index, ids[index]!.length, true)));
          rows = [...rows, ...staying.map(({ row }) => row)];
          await rebuild(prefill.next, staying.map(({ index }) => index));
          this.disposeBatch(prefill.next);
        }
        if (rows.length === 0) break;
        if (cacheRows.length !== batch!.masks.length) await rebuild();
        options.signal?.throwIfAborted();
        const step = await timed("decode", batch!, rows.map((row) => [row.tokens.at(-1)!]));
        this.disposeBatch(batch!);
        batch = step.next;
        const staying = rows.map((row, index) => ({ row, index })).filter(({ row, index }) => !advance(row, this.rowLogits(step.logits, index, 1, true)));
        rows = staying.map(({ row }) => row);
        cacheRows = staying.map(({ index }) => index);
      }
    } finally {
      if (batch) this.disposeBatch(batch);
    }
    return results;
  }

  async release(): Promise<void> {
    this.reset();
    await this.session.release();
  }

  /** Runs rows[r] after row r of `batch` (left-padded to the longest); `batch` itself is left as it was. */
  private async run(batch: KvBatch, rows: ReadonlyArray<readonly number[]>): Promise<{ next: KvBatch; logits: Tensor }> {
    const empty = rows.findIndex((ids) => ids.length === 0);
    if (empty >= 0) throw new Error(`forward needs at least one token in every row (row ${empty} has none)`);
    const count = rows.length;
    const slots = Math.max(...rows.map((ids) => ids.length));
    const total = batch.length + slots;
    const ids = new BigInt64Array(count * slots).fill(PADDING_ID);
    const positionIds = new BigInt64Array(count * slots);
    const attention = new BigInt64Array(count * total);
    const masks: Uint8Array[] = [];
    rows.forEach((row, r) => {
      const padding = slots - row.length;
      const mask = new Uint8Array(total);
      mask.set(batch.masks[r]!);
      row.forEach((id, i) => {
        ids[r * slots + padding + i] = BigInt(id);
        positionIds[r * slots + padding + i] = BigInt(batch.positions[r]! + i);
        mask[batch.length + padding + i] = 1;
      });
      for (let slot = 0; slot < total; slot++) attention[r * total + slot] = BigInt(mask[slot]!);
      masks.push(mask);
    });
    const feeds: Record<string, Tensor> = {
      [INPUT_IDS]: new this.ort.Tensor("int64", ids, [count, slots]),
      [ATTENTION_MASK]: new this.ort.Tensor("int64", attention, [count, total]),
      [POSITION_IDS]: new this.ort.Tensor("int64", positionIds, [count, slots]),
    };
    for (const [name, tensor] of batch.past) feeds[name] = tensor;
    const outputs = await this.session.run(feeds);
    const past = new Map<string, Tensor>();
    for (let layer = 0; layer < this.shape.numLayers; layer++) {
      past.set(pastKeyValueNames(layer).key, outputs[presentNames(layer).key]!);
      past.set(pastKeyValueNames(layer).value, outputs[presentNames(layer).value]!);
    }
    return { next: { past, masks, positions: batch.positions.map((position, r) => position + rows[r]!.length), length: total }, logits: outputs[LOGITS]! };
  }

  /** Row `row`'s logits from a [rows, slots, vocab] output: of its last `tokens` slots, or of the last only. */
  private rowLogits(logits: Tensor, row: number, tokens: number, lastOnly: boolean): Float32Array {
    const vocab = this.shape.vocabSize;
    const slots = logits.dims[1]!;
    const data = logits.data as Float32Array;
    const end = (row + 1) * slots * vocab;
    return data.slice(lastOnly || slots === 1 ? end - vocab : end - tokens * vocab, end);
  }

  /**
   * A batch of the given rows of other batches, right-aligned; slots that are padding in every row
   * are dropped, so the cache is as long as its longest row.
   */
  private async gatherRows(sources: ReadonlyArray<{ batch: KvBatch; row: number }>): Promise<KvBatch> {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const kept = sources.map(({ batch, row }) => {
      const mask = batch.masks[row]!;
      const first = mask.indexOf(1);
      return first < 0 ? mask.length : first;
    });
    const length = Math.max(0, ...sources.map(({ batch }, i) => batch.length - kept[i]!));
    const data = new Map<Tensor, Float32Array>();
    const read = async (tensor: Tensor): Promise<Float32Array> => {
      let values = data.get(tensor);
      if (!values) data.set(tensor, (values = (tensor.location === "cpu" ? tensor.data : await tensor.getData()) as Float32Array));
      return values;
    };
    const past = new Map<string, Tensor>();
    for (let layer = 0; layer < numLayers; layer++) {
      for (const name of Object.values(pastKeyValueNames(layer))) {
        const out = new Float32Array(sources.length * numKvHeads * length * headDim);
        for (const [i, { batch, row }] of sources.entries()) {
          const values = await read(batch.past.get(name)!);
          const from = kept[i]!;
          const keep = batch.length - from;
          for (let head = 0; head < numKvHeads; head++) {
            const source = ((row * numKvHeads + head) * batch.length + from) * headDim;
            out.set(values.subarray(source, source + keep * headDim), ((i * numKvHeads + head) * length + length - keep) * headDim);
          }
        }
        past.set(name, new this.ort.Tensor("float32", out, [sources.length, numKvHeads, length, headDim]));
      }
    }
    const masks = sources.map(({ batch, row }, i) => {
      const mask = new Uint8Array(length);
      mask.set(batch.masks[row]!.subarray(kept[i]!), length - (batch.length - kept[i]!));
      return mask;
    });
    return { past, masks, positions: sources.map(({ batch, row }) => batch.positions[row]!), length };
  }

  private emptyBatch(rows: number): KvBatch {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const past = new Map<string, Tensor>();
    for (let layer = 0; layer < numLayers; layer++) {
      for (const name of Object.values(pastKeyValueNames(layer))) past.set(name, new this.ort.Tensor("float32", new Float32Array(0), [rows, numKvHeads, 0, headDim]));
    }
    return { past, masks: Array.from({ length: rows }, () => new Uint8Array(0)), positions: new Array<number>(rows).fill(0), length: 0 };
  }

  /** GPU tensors hold device memory until disposed; CPU tensors are left to the garbage collector. */
  private disposeBatch(batch: KvBatch): void {
    if (!this.kvCacheOnGpu) return;
    for (const tensor of batch.past.values()) if (tensor.location === "gpu-buffer") tensor.dispose();
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
