/** Safetensors dtype names and their element sizes in bytes. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

/** The dtypes a merge computes on; every other dtype is copied from the target unchanged. */
export type FloatDtype = "BF16" | "F16" | "F32";

export function isDtype(value: unknown): value is Dtype {
  return typeof value === "string" && Object.hasOwn(DTYPE_BYTES, value);
}

export function isFloatDtype(dtype: Dtype): dtype is FloatDtype {
  return dtype === "BF16" || dtype === "F16" || dtype === "F32";
}

/** Names used by transformers' config.json (`torch_dtype` / `dtype`). */
export const TORCH_DTYPE_NAMES: Record<FloatDtype, string> = {
  BF16: "bfloat16",
  F16: "float16",
  F32: "float32",
};

/** Parses the CLI / URL spelling of an output dtype: bf16, f16, f32 (any case). */
export function parseFloatDtype(text: string): FloatDtype {
  const upper = text.toUpperCase();
  if (upper === "BF16" || upper === "F16" || upper === "F32") return upper;
  throw new Error(`unknown output dtype "${text}": use bf16, f16 or f32`);
}
