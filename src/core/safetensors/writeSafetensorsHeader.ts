import { DTYPE_BYTES, type Dtype } from "../dtypes.ts";

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export function tensorByteLength(tensor: TensorToWrite): number {
  return tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BYTES[tensor.dtype];
}

/**
 * Serializes the 8-byte length prefix and JSON header of a safetensors file whose data holds
 * `tensors` back to back in the given order, as the safetensors library writes it: compact JSON,
 * `__metadata__` first, each entry as {dtype, shape, data_offsets}, padded with spaces so that the
 * data starts at a multiple of 8.
 */
export function writeSafetensorsHeader(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: "pt" },
): Uint8Array {
  const entries: Array<[string, unknown]> = [["__metadata__", metadata]];
  let offset = 0;
  for (const tensor of tensors) {
    const end = offset + tensorByteLength(tensor);
    entries.push([tensor.name, { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, end] }]);
    offset = end;
  }
  const json = new TextEncoder().encode(jsonObjectText(entries));
  const padded = Math.ceil((8 + json.byteLength) / 8) * 8 - 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return bytes;
}

/**
 * Compact JSON of an object with these entries in this order. Tensor names are data, so they are
 * never used as keys of a JavaScript object: "__proto__" would set the prototype and vanish.
 */
function jsonObjectText(entries: ReadonlyArray<readonly [string, unknown]>): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`;
}
