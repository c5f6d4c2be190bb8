import { DTYPE_BYTES, isDtype, type Dtype } from "../dtypes.ts";
import { parseJsonLimited } from "../json/parseJsonLimited.ts";
import { describeJsonValue, isWellFormedText, quoteName } from "../messages/safeText.ts";
import type { ModelSource, RepoFile } from "../sources/ModelSource.ts";
import { SafetensorsError } from "./SafetensorsError.ts";

/** One tensor of a safetensors file, with its position as an absolute byte offset in the file. */
export interface SafetensorsTensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset of the tensor's first byte in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  /** The file's path in its repository or folder. */
  file: string;
  fileSize: number;
  /** Byte offset where the data section starts (8 + header length). */
  dataStart: number;
  metadata: Record<string, string> | undefined;
  /** Tensors in data order. */
  tensors: SafetensorsTensorInfo[];
}

/** The safetensors reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Reads and strictly validates the header of a safetensors file, reading only the header bytes. */
export async function readSafetensorsHeader(
  source: ModelSource,
  file: RepoFile,
  signal?: AbortSignal,
): Promise<SafetensorsHeader> {
  if (file.size < 8) {
    throw new SafetensorsError(file.path, `file is ${file.size} bytes, too short to hold a safetensors header`);
  }
  const prefix = await source.read(file.path, 0, 8, signal);
  const headerLength = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > file.size - 8) {
    throw new SafetensorsError(
      file.path,
      `header length ${headerLength} is larger than the file (${file.size} bytes): truncated or not a safetensors file`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(file.path, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const json = await source.read(file.path, 8, headerLength, signal);
  return parseSafetensorsHeader(file.path, file.size, json);
}

/** Validates the JSON header bytes of a file of `fileSize` bytes. */
function parseSafetensorsHeader(fileName: string, fileSize: number, json: Uint8Array): SafetensorsHeader {
  const fail = (problem: string, tensor?: string): never => {
    throw new SafetensorsError(fileName, problem, tensor);
  };
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    fail("header is not valid UTF-8 text");
  }
  let parsed: unknown;
  try {
    // A safetensors header is two levels deep ({name: {shape: [...]}}).
    parsed = parseJsonLimited(text, 4);
  } catch (error) {
    fail(`header is ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail("header is not a JSON object");
  }
  const dataStart = 8 + json.byteLength;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> | undefined;
  const tensors: SafetensorsTensorInfo[] = [];
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(entry, fail);
      continue;
    }
    if (!isWellFormedText(name)) fail("the name is not valid Unicode (it holds a lone UTF-16 surrogate)", name);
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail("entry is not an object", name);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`unknown dtype ${describeJsonValue(dtype)}`, name);
    if (!Array.isArray(shape) || !shape.every(isSafeNonNegativeInteger)) {
      fail(`shape ${describeShape(shape)} is not a list of non-negative integers`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegativeInteger)) {
      fail(`data_offsets ${describeShape(offsets)} is not a pair of non-negative integers`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`, name);
    if (end > dataSize) {
      fail(
        `data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes): file truncated or offsets out of bounds`,
        name,
      );
    }
    const expected = byteLengthOf(shape as number[], DTYPE_BYTES[dtype as Dtype]);
    if (expected === undefined) fail(`shape ${describeShape(shape)} has more elements than any file can hold`, name);
    if (expected !== end - begin) {
      fail(`shape ${describeShape(shape)} of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`, name);
    }
    tensors.push({ name, dtype: dtype as Dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin });
    ranges.push({ name, begin, end });
  }

  const order = ranges.map((_, index) => index).sort((a, b) => ranges[a]!.begin - ranges[b]!.begin || ranges[a]!.end - ranges[b]!.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const index of order) {
    const range = ranges[index]!;
    if (range.begin < cursor) fail(`data overlaps tensor ${quoteName(previous ?? "")} (starts at ${range.begin}, before ${cursor})`, range.name);
    if (range.begin > cursor) {
      fail(`${range.begin - cursor} bytes of gap before this tensor (data_offsets start at ${range.begin}, expected ${cursor})`, range.name);
    }
    cursor = range.end;
    previous = range.name;
  }
  if (cursor !== dataSize) {
    fail(`tensors end at data byte ${cursor} but the file holds ${dataSize} bytes of data (trailing bytes)`);
  }
  return { file: fileName, fileSize, dataStart, metadata, tensors: order.map((index) => tensors[index]!) };
}

/** Bytes of a tensor of this shape, or undefined when the count is past 2^53 (no file is that large). */
function byteLengthOf(shape: number[], elementBytes: number): number | undefined {
  if (shape.includes(0)) return 0;
  let bytes = elementBytes;
  for (const dim of shape) {
    bytes *= dim;
    if (!Number.isSafeInteger(bytes)) return undefined;
  }
  return bytes;
}

/** A shape (or offsets) from a header for a message: at most 8 entries shown. */
function describeShape(value: unknown): string {
  if (!Array.isArray(value)) return describeJsonValue(value);
  const shown = value.slice(0, 8).map((entry) => (typeof entry === "number" ? String(entry) : describeJsonValue(entry)));
  return `[${shown.join(", ")}${value.length > 8 ? `, … (${value.length} entries)` : ""}]`;
}

function isSafeNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function parseMetadata(entry: unknown, fail: (problem: string) => never): Record<string, string> {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) fail("__metadata__ is not an object");
  for (const [key, value] of Object.entries(entry as object)) {
    if (typeof value !== "string") fail(`__metadata__ entry ${quoteName(key)} is not a string`);
  }
  return entry as Record<string, string>;
}
