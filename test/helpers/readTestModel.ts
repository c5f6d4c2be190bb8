import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface ReadTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Reads every tensor of a model folder with a plain parser written for tests (not the project's reader). */
export async function readTestModel(dir: string): Promise<Map<string, ReadTensor>> {
  let files = ["model.safetensors"];
  try {
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    files = [...new Set(Object.values(index.weight_map))];
  } catch {
    // No index: a single model.safetensors.
  }
  const tensors = new Map<string, ReadTensor>();
  for (const file of files) {
    const bytes = await readFile(join(dir, file));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const start = 8 + headerLength + entry.data_offsets[0];
      const end = 8 + headerLength + entry.data_offsets[1];
      tensors.set(name, { dtype: entry.dtype, shape: entry.shape, data: new Uint8Array(bytes.subarray(start, end)) });
    }
  }
  return tensors;
}

export function elementBits(dtype: string, data: Uint8Array): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const width = dtype === "F32" ? 4 : 2;
  const bits: number[] = [];
  for (let i = 0; i < data.byteLength; i += width) bits.push(width === 4 ? view.getUint32(i, true) : view.getUint16(i, true));
  return bits;
}
