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
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const tensor of tensors) {
    const end = offset + tensorByteLength(tensor);
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.byteLength) / 8) * 8 - 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return bytes;
}
