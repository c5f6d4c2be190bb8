import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface TestTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/**
 * Writes a model folder for tests without the project's writer: one safetensors file per group of
 * tensors (a single group is model.safetensors, several get an index), and a config.json.
 */
export async function writeTestModel(
  dir: string,
  tensors: TestTensor[],
  options: { config?: Record<string, unknown>; shards?: number; extraFiles?: Record<string, string> } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), JSON.stringify(options.config ?? { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2" }));
  const shardCount = options.shards ?? 1;
  const perShard = Math.ceil(tensors.length / shardCount);
  const weightMap: Record<string, string> = {};
  for (let shard = 0; shard < shardCount; shard++) {
    const group = tensors.slice(shard * perShard, (shard + 1) * perShard);
    const name = shardCount === 1 ? "model.safetensors" : `model-${String(shard + 1).padStart(5, "0")}-of-${String(shardCount).padStart(5, "0")}.safetensors`;
    await writeFile(join(dir, name), safetensorsBytes(group));
    for (const tensor of group) weightMap[tensor.name] = name;
  }
  if (shardCount > 1) {
    const total = tensors.reduce((sum, tensor) => sum + tensor.data.byteLength, 0);
    await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  }
  for (const [path, text] of Object.entries(options.extraFiles ?? {})) await writeFile(join(dir, path), text);
}

export function safetensorsBytes(tensors: TestTensor[], headerOverride?: string): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const tensor of tensors) {
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  const json = Buffer.from(headerOverride ?? JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.byteLength));
  return Buffer.concat([prefix, json, ...tensors.map((tensor) => Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength))]);
}

/** Deterministic pseudo-random 32-bit words (mulberry32), so failures reproduce. */
export function randomWords(seed: number, count: number): Uint32Array {
  const words = new Uint32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    words[i] = (z ^ (z >>> 14)) >>> 0;
  }
  return words;
}
