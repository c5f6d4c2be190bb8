import { float32BitsToFloat16Bits } from "../../core/numeric/float16.ts";
import { OnnxDataType, type OnnxAttributeValue } from "./encodeOnnxModel.ts";
import { OnnxGraphBuilder, type BuiltOnnxModel, type ExternalDataWriter, type FinishOptions } from "./OnnxGraphBuilder.ts";
import { quantizeInt8PerChannel } from "./quantizeInt8PerChannel.ts";
import { matMulNBitsSizes, Q4_BLOCK_SIZE, quantizeMatMulNBits } from "./quantizeMatMulNBits.ts";
import { readQwen2Config, type Qwen2Config } from "./readQwen2Config.ts";

/**
 * How weights are stored and multiplied:
 * - f32: every weight float32, float32 arithmetic (CPU, wasm);
 * - f16: linear layers' weights and the embedding float16, matrix products in float16 (inputs cast to
 *   float16, results cast back); norms, biases, RoPE, attention, the KV cache and the residual stream
 *   stay float32, so the overflow-prone sums (RMS norm, residual) never run in float16. For WebGPU
 *   (needs the adapter feature shader-f16); onnxruntime's CPU provider runs these products in
 *   float32 after casting, so there f16 only rounds the weights;
 * - q8 (for CPU: onnxruntime-node, wasm): linear layers, lm_head and the embedding table int8 with
 *   one scale per output channel (see quantizeInt8PerChannel), activations quantised to uint8 row
 *   by row (each token of each batch row alone: symmetric, scale max |row| / 127, zero point 128;
 *   standard ops Abs, ReduceMax, Div, Round, Add, Cast), MatMulInteger, and the int32 result scaled
 *   back to float32 (row scale x channel scale). The table is stored once, transposed ([hidden,
 *   vocab], as lm_head's MatMulInteger needs it); the embedding gathers its columns and scales them.
 *   Per row, so greedy answers do not depend on the batch size, the padding or how tokens are
 *   grouped into calls; DynamicQuantizeLinear, which takes one scale over the whole input, made them
 *   depend on all three. Its cost, on the same 24 layers of the 0.5B MLP, one thread, decode step /
 *   batch-16 step / prefill of 64 tokens, best of 10 rounds on a loaded 2-core machine:
 *   onnxruntime-node DynamicQuantizeLinear 5.8 / 27.6 / 114 ms, per row 5.6 / 30.7 / 127 ms (per
 *   row through a per-axis QuantizeLinear 6.6 / 30.2 / 122); onnxruntime-web wasm (in Node) 47.7 /
 *   167 / 556 ms against 47.0 / 170 / 579 ms: the same decode, prefill up to 10% slower.
 *   The format was chosen by measurement (24 layers of the 0.5B MLP, one thread, decode step /
 *   prefill of 64 tokens, in a one-off script; onnxruntime 1.30 on an AMD EPYC with
 *   AVX-512 VNNI): onnxruntime-node f32 22 ms / 257 ms, MatMulInteger 3.0 ms / 68 ms,
 *   com.microsoft DynamicQuantizeMatMul 3.0 / 73, MatMulIntegerToFloat 3.1 / 71, 8-bit MatMulNBits
 *   (blocks of 32, accuracy_level 4) 3.6 / 184, 4-bit 4.0 / 201; onnxruntime-web wasm f32 25 / 916,
 *   MatMulInteger 33 / 392, DynamicQuantizeMatMul 34 / 374, MatMulIntegerToFloat 33 / 392, uint8
 *   weights with zero point 128 47 / 583, 8-bit MatMulNBits 892 / 1865, 4-bit 813 / 3551. The
 *   three int8 forms tie; MatMulInteger is standard ONNX. On wasm an int8 decode step is 1.3x
 *   slower than f32's (its int8 kernel, not memory, is the limit) but prefill is 2.3x faster, the
 *   session loads 6x faster and the weights take a quarter of the memory: a 1.5B model fits wasm32
 *   only so. On x86 CPUs without VNNI, onnxruntime's u8s8 kernel (VPMADDUBSW) saturates pairs of
 *   large products (logits off by up to 0.9 of their scale on an AVX2 EPYC), so OnnxCausalDecoder
 *   sets session.x64quantprecision: onnxruntime then turns the int8 weights into uint8 on such a
 *   CPU for its exact u8u8 kernel (0.5B q8 decode there 23.7 / 92.0 tok/s at batch 1 / 16 against
 *   25.2 / 89.7 saturating; peak memory 2.09 GB against 1.57: a second copy of the weights);
 * - q4 (for WebGPU): linear layers and lm_head as com.microsoft MatMulNBits (4 bits, blocks of 32,
 *   see quantizeMatMulNBits) with float32 activations; the embedding table stays float32 for Gather.
 *   Slow on CPU (microsoft/onnxruntime#23004).
 */
export type Qwen2OnnxFormat = "f32" | "f16" | "q8" | "q4";
export const QWEN2_ONNX_FORMATS: readonly Qwen2OnnxFormat[] = ["f32", "f16", "q8", "q4"];

/** Elements [start, end) of a tensor in row-major order. */
export interface ElementRange {
  start: number;
  end: number;
}

/**
 * Reads one transformers tensor (e.g. "model.layers.0.mlp.up_proj.weight") as row-major float32
 * values; with `range`, only those elements (the vocabulary tables are read in blocks of rows, so
 * that a 1.5B model's 0.9 GB float32 table is never whole in memory). A loader may ignore `range`
 * and return the whole tensor: the builder then takes the rows it asked for.
 */
export type TensorLoader = (name: string, range?: ElementRange) => Promise<Float32Array>;

/** Rows of a vocabulary table read at a time: 16 MiB of float32. */
const TABLE_BLOCK_BYTES = 16 * 2 ** 20;

export interface BuildQwen2OnnxOptions {
  format: Qwen2OnnxFormat;
  loadTensor: TensorLoader;
  /**
   * RMS norm as onnxruntime's SimplifiedLayerNormalization (default: one kernel, float32 statistics)
   * or as standard ops (Pow, ReduceMean, Add, Sqrt, Div, Mul).
   */
  rmsNorm?: "SimplifiedLayerNormalization" | "standard";
  /**
   * MatMulNBits accuracy_level for q4. 4 (default) lets the CPU kernel quantise activations to int8
   * per block and use integer dot products (AVX-VNNI, ARM SDOT): logits move by about 3% of their
   * scale against float32 arithmetic over the same 4-bit weights, and CPU decoding runs faster
   * (measured 1.2x-1.6x here; 2.3x reported for Qwen2.5-0.5B in onnxruntime/mobius#402).
   * 0 keeps float32 arithmetic (exact dequantised weights).
   */
  q4AccuracyLevel?: 0 | 4;
  /**
   * Logits of every input position ([batch, sequence, vocab], the default) or of the last one only
   * ([batch, 1, vocab]): generation needs only the last, and skips lm_head over the rest of a prompt.
   */
  logits?: "all" | "last";
  /** Largest external data file (default 1 GiB: well under Chrome's 2 GB ArrayBuffer limit). */
  maxExternalDataFileBytes?: number;
  signal?: AbortSignal;
  /** Bytes of external data written so far, and in all. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface Qwen2Onnx extends BuiltOnnxModel {
  config: Qwen2Config;
  format: Qwen2OnnxFormat;
}

/** Graph input: token ids, int64 [batch, sequence]; a padding slot may hold any id in the vocabulary. */
export const INPUT_IDS = "input_ids";
/**
 * Graph input: int64 [batch, past_sequence + sequence], 1 for a token, 0 for a padding slot (of the
 * cache or of this call). A slot attends to the tokens of its row at its slot or before; a padding
 * slot attends to itself only, so no softmax row is empty and nothing it computes is NaN.
 */
export const ATTENTION_MASK = "attention_mask";
/** Graph input: int64 [batch, sequence], each token's position in its row (the RoPE angle), 0..; any valid position for padding. */
export const POSITION_IDS = "position_ids";
/** Graph output: float32 [batch, sequence, vocab], the logits of every input slot ([batch, 1, vocab] when built with logits "last"). */
export const LOGITS = "logits";

/** Graph inputs of layer `layer`'s cache: float32 [batch, kv_heads, past_sequence, head_dim], keys after RoPE. */
export function pastKeyValueNames(layer: number): { key: string; value: string } {
  return { key: `past_key_values.${layer}.key`, value: `past_key_values.${layer}.value` };
}

/** Graph outputs of layer `layer`'s cache: past and this call's slots, float32 [batch, kv_heads, past + sequence, head_dim]. */
export function presentNames(layer: number): { key: string; value: string } {
  return { key: `present.${layer}.key`, value: `present.${layer}.value` };
}

const DEFAULT_MAX_EXTERNAL_DATA_FILE_BYTES = 2 ** 30;
/** Opset 17 has every standard op used here and is implemented by every onnxruntime execution provider. */
const ONNX_OPSET = 17;
const IR_VERSION = 8;
const FLOAT32_LOWEST = -3.4028234663852886e38;
/** Smallest positive normal float32: the scale of an all-zero activation row, so 0 / 0 never makes a NaN for the cast to uint8. */
const FLOAT32_MIN_NORMAL = 2 ** -126;
/** q8 activations: code = round(x / scale) + 128 in 1..255, scale = max |row| / 127. */
const Q8_ACTIVATION_MAX_CODE = 127;
const Q8_ACTIVATION_ZERO_POINT = 128;

const int = (value: number): OnnxAttributeValue => ({ type: "int", value });
const ints = (value: number[]): OnnxAttributeValue => ({ type: "ints", value });
const float = (value: number): OnnxAttributeValue => ({ type: "float", value });

/**
 * Builds the ONNX graph of a Qwen2ForCausalLM (transformers' modeling_qwen2) from its config.json
 * and its tensors, read one at a time through `loadTensor`. The weights go into external data
 * files held in memory (pass `externalData` to InferenceSession.create); the model proto holds
 * only the graph.
 *
 * The graph, standard ONNX ops (opset 17) plus onnxruntime's SimplifiedLayerNormalization and, for
 * q4, com.microsoft MatMulNBits: Gather of the embedding; per layer RMS norm, one fused q/k/v
 * projection with its biases, RoPE with cos/sin gathered from tables by position, the new keys and
 * values appended to the cache (Concat on the sequence axis: present = past + new), attention as
 * MatMul / Softmax / MatMul with the query heads that share a kv head stacked as rows of one
 * matrix (no repeated keys or values), a causal and padding mask over past + new slots (rows of a
 * batch may be left-padded: RoPE angles come from position_ids), o_proj, residual,
 * RMS norm, fused gate/up projection, SiLU(gate) x up, down_proj, residual; final norm and lm_head
 * (Gemm with transB on the embedding table when tied). onnxruntime's GroupQueryAttention and
 * RotaryEmbedding contrib ops are not used: the standard ops are proven against a float64 forward
 * pass on the CPU, wasm and WebGPU providers, while GroupQueryAttention has open WebGPU bugs
 * (microsoft/onnxruntime#26064 wrong results under flash attention, #32716 growing KV caches).
 */
export async function buildQwen2Onnx(configJson: Record<string, unknown>, options: BuildQwen2OnnxOptions): Promise<Qwen2Onnx> {
  const { builder, config } = defineQwen2Onnx(configJson, options);
  return { ...(await builder.finish(GRAPH_NAME, finishOptions(options))), config, format: options.format };
}

/**
 * buildQwen2Onnx with the weights handed to `writer` group by group instead of held in memory
 * (e.g. streamed to files on disk: src/eval/node/OnnxFolderWriter.ts); returns the model proto.
 */
export async function buildQwen2OnnxInto(
  configJson: Record<string, unknown>,
  options: BuildQwen2OnnxOptions,
  writer: ExternalDataWriter,
): Promise<Omit<Qwen2Onnx, "externalData">> {
  const { builder, config } = defineQwen2Onnx(configJson, options);
  return { model: await builder.finishInto(GRAPH_NAME, finishOptions(options), writer), config, format: options.format };
}

const GRAPH_NAME = "qwen2";

function finishOptions(options: BuildQwen2OnnxOptions): FinishOptions {
  return {
    maxFileBytes: options.maxExternalDataFileBytes ?? DEFAULT_MAX_EXTERNAL_DATA_FILE_BYTES,
    filePrefix: `qwen2-${options.format}-weights-`,
    signal: options.signal,
    onProgress: options.onProgress,
  };
}

/** The graph of buildQwen2Onnx, its weights declared (produced when the builder finishes). */
function defineQwen2Onnx(configJson: Record<string, unknown>, options: BuildQwen2OnnxOptions): { builder: OnnxGraphBuilder; config: Qwen2Config } {
  const config = readQwen2Config(configJson);
  const { format, loadTensor } = options;
  const { hiddenSize: hidden, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, ropeTheta, rmsNormEps } = config;
  const groupSize = numHeads / numKvHeads;
  const b = new OnnxGraphBuilder(
    [
      { domain: "", version: ONNX_OPSET },
      { domain: "com.microsoft", version: 1 },
    ],
    IR_VERSION,
  );
  const loadChecked = async (name: string, shape: number[]): Promise<Float32Array> => {
    const values = await loadTensor(name);
    const expected = shape.reduce((product, dim) => product * dim, 1);
    if (values.length !== expected) {
      throw new Error(`tensor ${name} has ${values.length} values; config.json implies shape [${shape.join(", ")}] (${expected} values)`);
    }
    return values;
  };
  /** Visits a [rows, columns] table block by block of rows (first row, row count, the block's values). */
  const forEachRowBlock = async (name: string, rows: number, columns: number, visit: (firstRow: number, count: number, values: Float32Array) => void): Promise<void> => {
    const blockRows = Math.max(1, Math.floor(TABLE_BLOCK_BYTES / (4 * columns)));
    for (let first = 0; first < rows; first += blockRows) {
      const count = Math.min(blockRows, rows - first);
      const range = { start: first * columns, end: (first + count) * columns };
      const values = await loadTensor(name, range);
      if (values.length === range.end - range.start) visit(first, count, values);
      else if (values.length === rows * columns) visit(first, count, values.subarray(range.start, range.end));
      else throw new Error(`tensor ${name} has ${values.length} values; config.json implies shape [${rows}, ${columns}] (${rows * columns} values)`);
    }
  };
  const q4AccuracyLevel = options.q4AccuracyLevel ?? 4;

  /** A float32 vector weight (norm scales, biases) that is the concatenation of `sources`. */
  const vectorWeight = (name: string, sources: Array<{ name: string; length: number }>): string =>
    b.weight(name, OnnxDataType.FLOAT, [sources.reduce((sum, source) => sum + source.length, 0)], async (into) => {
      const out = new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4);
      let offset = 0;
      for (const source of sources) {
        out.set(await loadChecked(source.name, [source.length]), offset);
        offset += source.length;
      }
    });

  /**
   * y = x W^T + bias, where W stacks the transformers weights `sources` ([rows, columns] each) along
   * the output dimension. x and y are float32 [1, sequence, features] whatever the format.
   */
  const linear = (x: string, name: string, sources: Array<{ name: string; rows: number }>, columns: number, bias?: string): string => {
    const rows = sources.reduce((sum, source) => sum + source.rows, 0);
    let y: string;
    if (format === "q8") {
      const weight = { codes: `${name}.q8_codes_transposed`, scales: `${name}.q8_scales` };
      b.weightGroup(
        [
          { name: weight.codes, dataType: OnnxDataType.INT8, dims: [columns, rows] },
          { name: weight.scales, dataType: OnnxDataType.FLOAT, dims: [rows] },
        ],
        async ([codes, scales]) => {
          const out = { codes: new Int8Array(codes!.buffer, codes!.byteOffset, codes!.byteLength), scales: new Float32Array(scales!.buffer, scales!.byteOffset, rows), outRows: rows };
          let rowOffset = 0;
          for (const source of sources) {
            quantizeInt8PerChannel(await loadChecked(source.name, [source.rows, columns]), source.rows, columns, out, rowOffset);
            rowOffset += source.rows;
          }
        },
      );
      y = q8MatMul(x, weight);
    } else if (format === "q4") {
      const sizes = matMulNBitsSizes(rows, columns);
      const names = { codes: `${name}.q4_codes`, scales: `${name}.q4_scales`, zeroPoints: `${name}.q4_zero_points` };
      b.weightGroup(
        [
          { name: names.codes, dataType: OnnxDataType.UINT8, dims: [rows, sizes.blocksPerRow, Q4_BLOCK_SIZE / 2] },
          { name: names.scales, dataType: OnnxDataType.FLOAT, dims: [sizes.scaleCount] },
          { name: names.zeroPoints, dataType: OnnxDataType.UINT8, dims: [sizes.zeroPointBytes] },
        ],
        async ([codes, scales, zeroPoints]) => {
          const out = { codes: codes!, scales: new Float32Array(scales!.buffer, scales!.byteOffset, sizes.scaleCount), zeroPoints: zeroPoints! };
          let rowOffset = 0;
          for (const source of sources) {
            quantizeMatMulNBits(await loadChecked(source.name, [source.rows, columns]), source.rows, columns, out, rowOffset);
            rowOffset += source.rows;
          }
        },
      );
      y = b.op(
        "MatMulNBits",
        [x, names.codes, names.scales, names.zeroPoints],
        { K: int(columns), N: int(rows), bits: int(4), block_size: int(Q4_BLOCK_SIZE), accuracy_level: int(q4AccuracyLevel) },
        { domain: "com.microsoft" },
      );
    } else {
      const half = format === "f16";
      const weight = b.weight(`${name}.weight_transposed`, half ? OnnxDataType.FLOAT16 : OnnxDataType.FLOAT, [columns, rows], async (into) => {
        let rowOffset = 0;
        for (const source of sources) {
          const values = await loadChecked(source.name, [source.rows, columns]);
          if (half) transposeToFloat16(values, source.rows, columns, new Uint16Array(into.buffer, into.byteOffset, into.byteLength / 2), rows, rowOffset);
          else transposeInto(values, source.rows, columns, new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4), rows, rowOffset);
          rowOffset += source.rows;
        }
      });
      y = half ? b.op("Cast", [b.op("MatMul", [b.op("Cast", [x], { to: int(OnnxDataType.FLOAT16) }), weight])], { to: int(OnnxDataType.FLOAT) }) : b.op("MatMul", [x, weight]);
    }
    return bias ? b.op("Add", [y, bias]) : y;
  };

  const q8ActivationMaxCode = b.float32([Q8_ACTIVATION_MAX_CODE], []);
  const q8ActivationZeroPointFloat = b.float32([Q8_ACTIVATION_ZERO_POINT], []);
  const q8ActivationZeroPoint = b.uint8([Q8_ACTIVATION_ZERO_POINT], []);
  const float32Min = b.float32([FLOAT32_MIN_NORMAL], []);
  /**
   * x [.., K] times int8 codes [K, N] with per-column scales. Each row of x (one token of one batch
   * row) is quantised on its own, symmetrically: scale = max(max |x_row| / 127, FLT_MIN), code =
   * Round(x / scale) (halves to even) + 128 as uint8, zero point 128; so a row's result depends on
   * that row alone, never on the other rows of its batch or call.
   */
  const q8MatMul = (x: string, weight: { codes: string; scales: string }): string => {
    const largest = b.op("ReduceMax", [b.op("Abs", [x])], { axes: ints([-1]), keepdims: int(1) });
    const scale = b.op("Max", [b.op("Div", [largest, q8ActivationMaxCode]), float32Min]);
    const codes = b.op("Cast", [b.op("Add", [b.op("Round", [b.op("Div", [x, scale])]), q8ActivationZeroPointFloat])], { to: int(OnnxDataType.UINT8) });
    const product = b.op("MatMulInteger", [codes, weight.codes, q8ActivationZeroPoint]);
    return b.op("Mul", [b.op("Mul", [b.op("Cast", [product], { to: int(OnnxDataType.FLOAT) }), scale]), weight.scales]);
  };
  /** q8: a [vocab, hidden] table as int8 codes [hidden, vocab] (transposed) and one scale per vocabulary row. */
  const q8Table = (name: string): { codes: string; scales: string } => {
    const table = { codes: `${name}.q8_codes_transposed`, scales: `${name}.q8_scales` };
    b.weightGroup(
      [
        { name: table.codes, dataType: OnnxDataType.INT8, dims: [hidden, vocabSize] },
        { name: table.scales, dataType: OnnxDataType.FLOAT, dims: [vocabSize] },
      ],
      async ([codes, scales]) => {
        const out = {
          codes: new Int8Array(codes!.buffer, codes!.byteOffset, codes!.byteLength),
          scales: new Float32Array(scales!.buffer, scales!.byteOffset, vocabSize),
          outRows: vocabSize,
        };
        await forEachRowBlock(name, vocabSize, hidden, (first, count, values) => quantizeInt8PerChannel(values, count, hidden, out, first));
      },
    );
    return table;
  };

  const rmsNorm = (x: string, weightName: string): string => {
    const weight = vectorWeight(weightName, [{ name: weightName, length: hidden }]);
    if ((options.rmsNorm ?? "SimplifiedLayerNormalization") === "SimplifiedLayerNormalization") {
      return b.op("SimplifiedLayerNormalization", [x, weight], { axis: int(-1), epsilon: float(rmsNormEps), stash_type: int(1) });
    }
    const meanSquare = b.op("ReduceMean", [b.op("Pow", [x, b.float32([2], [])])], { axes: ints([-1]), keepdims: int(1) });
    const rms = b.op("Sqrt", [b.op("Add", [meanSquare, b.float32([rmsNormEps], [])])]);
    return b.op("Mul", [b.op("Div", [x, rms]), weight]);
  };

  // Inputs, and what every layer shares: RoPE cos and sin of each token's position, the mask.
  const inputIds = b.input(INPUT_IDS, OnnxDataType.INT64, ["batch", "sequence"]);
  const attentionMask = b.input(ATTENTION_MASK, OnnxDataType.INT64, ["batch", "total_sequence"]);
  const positionIds = b.input(POSITION_IDS, OnnxDataType.INT64, ["batch", "sequence"]);
  for (let layer = 0; layer < numLayers; layer++) {
    const past = pastKeyValueNames(layer);
    b.input(past.key, OnnxDataType.FLOAT, ["batch", numKvHeads, "past_sequence", headDim]);
    b.input(past.value, OnnxDataType.FLOAT, ["batch", numKvHeads, "past_sequence", headDim]);
  }
  const scalarAxis = b.int64([0]);
  const pastLength = b.op("Squeeze", [b.op("Shape", [pastKeyValueNames(0).key], { start: int(2), end: int(3) }), scalarAxis]);
  const sequenceLength = b.op("Squeeze", [b.op("Shape", [inputIds], { start: int(1), end: int(2) }), scalarAxis]);
  const totalLength = b.op("Add", [pastLength, sequenceLength]);
  const one = b.int64([1], []);
  // cos and sin of every position's angles, computed here in float64 and rounded once: WGSL's sin and
  // cos may be off by 2^-11 (WebGPU), and a float32 angle by position x 2^-24 radians.
  const ropeTable = (name: string, trig: (angle: number) => number): string =>
    b.weight(name, OnnxDataType.FLOAT, [config.maxPositionEmbeddings, headDim / 2], async (into) => {
      const table = new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4);
      const inverseFrequencies = Array.from({ length: headDim / 2 }, (_, i) => 1 / ropeTheta ** ((2 * i) / headDim));
      for (let position = 0; position < config.maxPositionEmbeddings; position++) {
        for (let i = 0; i < headDim / 2; i++) table[position * (headDim / 2) + i] = trig(position * inverseFrequencies[i]!);
      }
    });
  // [batch, 1, sequence, headDim / 2]: broadcast over the heads of [batch, heads, sequence, headDim / 2].
  const headAxis = b.int64([1]);
  const cos = b.op("Unsqueeze", [b.op("Gather", [ropeTable("rope.cos", Math.cos), positionIds], { axis: int(0) }), headAxis]);
  const sin = b.op("Unsqueeze", [b.op("Gather", [ropeTable("rope.sin", Math.sin), positionIds], { axis: int(0) }), headAxis]);
  // Slot q (past..total-1) may see slot k when k <= q and k holds a token of its row; every slot sees itself.
  const keySlots = b.op("Range", [b.int64([0], []), totalLength, one]);
  const querySlots = b.op("Unsqueeze", [b.op("Range", [pastLength, totalLength, one]), b.int64([1])]);
  const lowest = b.float32([FLOAT32_LOWEST], []);
  const zero = b.float32([0], []);
  const padding = b.op("Unsqueeze", [b.op("Equal", [attentionMask, b.int64([0], [])]), b.int64([1, 2])]);
  const paddingMask = b.op("Where", [padding, lowest, zero]);
  const futureMask = b.op("Where", [b.op("Greater", [keySlots, querySlots]), lowest, paddingMask]);
  // [batch, 1, sequence, total]
  const mask = b.op("Where", [b.op("Equal", [keySlots, querySlots]), zero, futureMask]);
  // Query rows of one kv head are (group member, slot): repeat the mask per member.
  const groupedMask = groupSize === 1 ? mask : b.op("Tile", [mask, b.int64([1, 1, groupSize, 1])]);
  const halfSplit = b.int64([headDim / 2, headDim / 2]);

  /** Rotates each (x[i], x[i + headDim/2]) pair by its angle: transformers' rotate_half layout. */
  const rope = (x: string): string => {
    const [first, second] = b.opMulti("Split", [x, halfSplit], 2, { axis: int(-1) });
    const rotatedFirst = b.op("Sub", [b.op("Mul", [first!, cos]), b.op("Mul", [second!, sin])]);
    const rotatedSecond = b.op("Add", [b.op("Mul", [second!, cos]), b.op("Mul", [first!, sin])]);
    return b.op("Concat", [rotatedFirst, rotatedSecond], { axis: int(-1) });
  };
  // Reshape's 0 keeps the input's dimension (the batch).
  const toHeads = (x: string, heads: number): string => b.op("Transpose", [b.op("Reshape", [x, b.int64([0, -1, heads, headDim])])], { perm: ints([0, 2, 1, 3]) });

  const embedName = "model.embed_tokens.weight";
  /** A [vocab, hidden] table stored as transformers stores it: float16 in the f16 format, else float32. */
  const tableWeight = (name: string): string =>
    format === "f16"
      ? b.weight(`${name}.f16`, OnnxDataType.FLOAT16, [vocabSize, hidden], async (into) => {
          const out = new Uint16Array(into.buffer, into.byteOffset, into.byteLength / 2);
          await forEachRowBlock(name, vocabSize, hidden, (first, count, values) => toFloat16(values, out.subarray(first * hidden, (first + count) * hidden)));
        })
      : b.weight(name, OnnxDataType.FLOAT, [vocabSize, hidden], async (into) => {
          const out = new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4);
          await forEachRowBlock(name, vocabSize, hidden, (first, _count, values) => out.set(values, first * hidden));
        });
  const q8Embedding = format === "q8" ? q8Table(embedName) : undefined;
  const embedding = q8Embedding ? undefined : tableWeight(embedName);
  let hiddenStates: string;
  if (q8Embedding) {
    // Columns of the transposed table ([hidden, 1, sequence]) to [1, sequence, hidden], times each row's scale.
    const codes = b.op("Transpose", [b.op("Gather", [q8Embedding.codes, inputIds], { axis: int(1) })], { perm: ints([1, 2, 0]) });
    const scales = b.op("Unsqueeze", [b.op("Gather", [q8Embedding.scales, inputIds], { axis: int(0) }), b.int64([-1])]);
    hiddenStates = b.op("Mul", [b.op("Cast", [codes], { to: int(OnnxDataType.FLOAT) }), scales]);
  } else {
    hiddenStates = b.op("Gather", [embedding!, inputIds], { axis: int(0) });
    if (format === "f16") hiddenStates = b.op("Cast", [hiddenStates], { to: int(OnnxDataType.FLOAT) });
  }
  const queryScale = b.float32([1 / Math.sqrt(headDim)], []);
  const qkvSplit = b.int64([numHeads * headDim, numKvHeads * headDim, numKvHeads * headDim]);
  const gateUpSplit = b.int64([intermediateSize, intermediateSize]);

  for (let layer = 0; layer < numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const attention = `${prefix}.self_attn`;
    const normed = rmsNorm(hiddenStates, `${prefix}.input_layernorm.weight`);
    const qkvBias = vectorWeight(`${attention}.qkv_proj.bias`, [
      { name: `${attention}.q_proj.bias`, length: numHeads * headDim },
      { name: `${attention}.k_proj.bias`, length: numKvHeads * headDim },
      { name: `${attention}.v_proj.bias`, length: numKvHeads * headDim },
    ]);
    const qkv = linear(
      normed,
      `${attention}.qkv_proj`,
      [
        { name: `${attention}.q_proj.weight`, rows: numHeads * headDim },
        { name: `${attention}.k_proj.weight`, rows: numKvHeads * headDim },
        { name: `${attention}.v_proj.weight`, rows: numKvHeads * headDim },
      ],
      hidden,
      qkvBias,
    );
    const [query, key, value] = b.opMulti("Split", [qkv, qkvSplit], 3, { axis: int(-1) });
    const past = pastKeyValueNames(layer);
    const present = presentNames(layer);
    const presentKey = b.op("Concat", [past.key, rope(toHeads(key!, numKvHeads))], { axis: int(2) }, { as: present.key });
    const presentValue = b.op("Concat", [past.value, toHeads(value!, numKvHeads)], { axis: int(2) }, { as: present.value });
    b.output(presentKey, present.key, OnnxDataType.FLOAT, ["batch", numKvHeads, "total_sequence", headDim]);
    b.output(presentValue, present.value, OnnxDataType.FLOAT, ["batch", numKvHeads, "total_sequence", headDim]);
    // Grouped-query attention without repeating keys and values: the queries of the heads that share
    // a kv head become rows of one matrix, [batch, kv_heads, group * sequence, head_dim].
    const groupedQuery = b.op("Reshape", [b.op("Mul", [rope(toHeads(query!, numHeads)), queryScale]), b.int64([0, numKvHeads, -1, headDim])]);
    const scores = b.op("MatMul", [groupedQuery, b.op("Transpose", [presentKey], { perm: ints([0, 1, 3, 2]) })]);
    const probabilities = b.op("Softmax", [b.op("Add", [scores, groupedMask])], { axis: int(-1) });
    const context = b.op("MatMul", [probabilities, presentValue]);
    const merged = b.op("Reshape", [
      b.op("Transpose", [b.op("Reshape", [context, b.int64([0, numHeads, -1, headDim])])], { perm: ints([0, 2, 1, 3]) }),
      b.int64([0, -1, numHeads * headDim]),
    ]);
    const attentionOutput = linear(merged, `${attention}.o_proj`, [{ name: `${attention}.o_proj.weight`, rows: hidden }], numHeads * headDim);
    hiddenStates = b.op("Add", [hiddenStates, attentionOutput]);

    const mlp = `${prefix}.mlp`;
    const gateUp = linear(
      rmsNorm(hiddenStates, `${prefix}.post_attention_layernorm.weight`),
      `${mlp}.gate_up_proj`,
      [
        { name: `${mlp}.gate_proj.weight`, rows: intermediateSize },
        { name: `${mlp}.up_proj.weight`, rows: intermediateSize },
      ],
      hidden,
    );
    const [gate, up] = b.opMulti("Split", [gateUp, gateUpSplit], 2, { axis: int(-1) });
    const activated = b.op("Mul", [b.op("Mul", [gate!, b.op("Sigmoid", [gate!])]), up!]);
    hiddenStates = b.op("Add", [hiddenStates, linear(activated, `${mlp}.down_proj`, [{ name: `${mlp}.down_proj.weight`, rows: hidden }], intermediateSize)]);
  }

  const logitPositions = options.logits === "last" ? 1 : "sequence";
  // [batch, -1, vocab]: Gemm's rows back to the batch's rows.
  const batchBySlots = b.op("Concat", [b.op("Shape", [inputIds], { start: int(0), end: int(1) }), b.int64([-1, vocabSize])], { axis: int(0) });
  if (logitPositions === 1) hiddenStates = b.op("Gather", [hiddenStates, b.int64([-1])], { axis: int(1) });
  const finalNormed = rmsNorm(hiddenStates, "model.norm.weight");
  const lmHeadName = config.tieWordEmbeddings ? embedName : "lm_head.weight";
  let logits: string;
  if (format === "q8") {
    logits = q8MatMul(finalNormed, config.tieWordEmbeddings ? q8Embedding! : q8Table(lmHeadName));
  } else if (format === "q4") {
    logits = linear(finalNormed, "lm_head", [{ name: lmHeadName, rows: vocabSize }], hidden);
  } else {
    // Gemm with transB reads the [vocab, hidden] table as stored, so a tied lm_head shares the embedding's initializer.
    const lmHead = config.tieWordEmbeddings ? embedding! : tableWeight(lmHeadName);
    let rows = b.op("Reshape", [finalNormed, b.int64([-1, hidden])]);
    if (format === "f16") rows = b.op("Cast", [rows], { to: int(OnnxDataType.FLOAT16) });
    let product = b.op("Gemm", [rows, lmHead], { transB: int(1) });
    if (format === "f16") product = b.op("Cast", [product], { to: int(OnnxDataType.FLOAT) });
    logits = b.op("Reshape", [product, batchBySlots]);
  }
  b.output(logits, LOGITS, OnnxDataType.FLOAT, ["batch", logitPositions, vocabSize]);
  return { builder: b, config };
}

/** Edge of the square tiles a transpose copies at a time, so reads and writes both stay in cache. */
const TRANSPOSE_TILE = 64;

/** Writes source [rows, columns] transposed into out [columns, outRows] at columns rowOffset.. of each out row. */
function transposeInto(source: Float32Array, rows: number, columns: number, out: Float32Array, outRows: number, rowOffset: number): void {
  for (let rowTile = 0; rowTile < rows; rowTile += TRANSPOSE_TILE) {
    const rowEnd = Math.min(rows, rowTile + TRANSPOSE_TILE);
    for (let columnTile = 0; columnTile < columns; columnTile += TRANSPOSE_TILE) {
      const columnEnd = Math.min(columns, columnTile + TRANSPOSE_TILE);
      for (let row = rowTile; row < rowEnd; row++) {
        for (let column = columnTile; column < columnEnd; column++) out[column * outRows + rowOffset + row] = source[row * columns + column]!;
      }
    }
  }
}

/** transposeInto, rounding each value to float16 bits (nearest even). */
function transposeToFloat16(source: Float32Array, rows: number, columns: number, out: Uint16Array, outRows: number, rowOffset: number): void {
  const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let rowTile = 0; rowTile < rows; rowTile += TRANSPOSE_TILE) {
    const rowEnd = Math.min(rows, rowTile + TRANSPOSE_TILE);
    for (let columnTile = 0; columnTile < columns; columnTile += TRANSPOSE_TILE) {
      const columnEnd = Math.min(columns, columnTile + TRANSPOSE_TILE);
      for (let row = rowTile; row < rowEnd; row++) {
        for (let column = columnTile; column < columnEnd; column++) {
          out[column * outRows + rowOffset + row] = float32BitsToFloat16Bits(bits[row * columns + column]!);
        }
      }
    }
  }
}

function toFloat16(source: Float32Array, out: Uint16Array): void {
  const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToFloat16Bits(bits[i]!);
}
