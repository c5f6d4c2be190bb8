import { tensorByteLength, type TensorToWrite } from "./writeSafetensorsHeader.ts";

export interface ShardPlan<T extends TensorToWrite> {
  /** File name: "model.safetensors" or "model-0000i-of-0000N.safetensors". */
  fileName: string;
  tensors: T[];
}

export const SINGLE_FILE_NAME = "model.safetensors";
export const INDEX_FILE_NAME = "model.safetensors.index.json";

/**
 * Splits tensors, kept in order, into shards as transformers does: a new shard starts when the next
 * tensor would take the current one past `maxShardBytes`; a tensor larger than the limit gets a shard
 * of its own. One shard is written as a plain model.safetensors.
 */
export function planShards<T extends TensorToWrite>(tensors: readonly T[], maxShardBytes: number): ShardPlan<T>[] {
  if (!(maxShardBytes > 0)) throw new Error(`shard size must be a positive number of bytes, got ${maxShardBytes}`);
  const groups: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const tensor of tensors) {
    const bytes = tensorByteLength(tensor);
    if (current.length > 0 && currentBytes + bytes > maxShardBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(tensor);
    currentBytes += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  if (groups.length === 1) return [{ fileName: SINGLE_FILE_NAME, tensors: groups[0]! }];
  const total = String(groups.length).padStart(5, "0");
  return groups.map((group, index) => ({
    fileName: `model-${String(index + 1).padStart(5, "0")}-of-${total}.safetensors`,
    tensors: group,
  }));
}

/** The model.safetensors.index.json of a sharded output, as transformers writes it. */
export function buildSafetensorsIndex<T extends TensorToWrite>(shards: readonly ShardPlan<T>[]): string {
  const lines: string[] = [];
  let totalSize = 0;
  for (const shard of shards) {
    for (const tensor of shard.tensors) {
      // Written entry by entry, not through an object keyed by tensor name (see jsonObjectText).
      lines.push(`    ${JSON.stringify(tensor.name)}: ${JSON.stringify(shard.fileName)}`);
      totalSize += tensorByteLength(tensor);
    }
  }
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {\n${lines.join(",\n")}\n  }\n}\n`;
}

/** Parses "5GB", "500MB", "2GiB", "1000000" into bytes (decimal units as transformers uses). */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$/i.exec(text);
  if (!match) throw new Error(`cannot read size "${text}": use a number of bytes or e.g. 500MB, 5GB, 2GiB`);
  const units: Record<string, number> = {
    B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
  };
  const bytes = Math.floor(Number(match[1]) * units[(match[2] ?? "B").toUpperCase()]!);
  if (bytes <= 0) throw new Error(`size "${text}" must be positive`);
  return bytes;
}
