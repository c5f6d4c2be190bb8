import { DTYPE_BYTES, isFloatDtype } from "../../core/dtypes.ts";
import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { viewFloatBits, widenToFloat32Bits } from "../../core/numeric/floatBlocks.ts";
import type { ElementRange, TensorLoader } from "./buildQwen2Onnx.ts";

/**
 * A TensorLoader over an inspected model (a folder, browser files or a Hub repo): reads one tensor's
 * bytes through the model's source and widens BF16 / F16 / F32 to float32 (exactly).
 */
export function modelTensorLoader(model: ModelInfo, signal?: AbortSignal): TensorLoader {
  return async (name, range) => {
    const location = model.tensors.get(name);
    if (!location) throw new Error(`${model.source.label}: tensor ${name} is missing`);
    const { dtype } = location;
    if (!isFloatDtype(dtype)) throw new Error(`${model.source.label}: tensor ${name} is ${dtype}; the evaluator reads BF16, F16 or F32`);
    const width = DTYPE_BYTES[dtype];
    const { start, end } = checkedRange(name, range, location.byteLength / width);
    const count = end - start;
    const bytes = await model.source.read(location.file, location.offset + start * width, count * width, signal);
    const values = new Float32Array(count);
    widenToFloat32Bits(dtype, viewFloatBits(dtype, bytes), 0, count, new Uint32Array(values.buffer));
    return values;
  };
}

/** `range` of a tensor of `count` elements, checked (the whole tensor when absent). */
export function checkedRange(name: string, range: ElementRange | undefined, count: number): ElementRange {
  if (!range) return { start: 0, end: count };
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > count) {
    throw new RangeError(`tensor ${name}: elements ${start}..${end} are not within its ${count}`);
  }
  return range;
}
