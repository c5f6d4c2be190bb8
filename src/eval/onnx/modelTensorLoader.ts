import { isFloatDtype } from "../../core/dtypes.ts";
import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { viewFloatBits, widenToFloat32Bits } from "../../core/numeric/floatBlocks.ts";
import type { TensorLoader } from "./buildQwen2Onnx.ts";

/**
 * A TensorLoader over an inspected model (a folder, browser files or a Hub repo): reads one tensor's
 * bytes through the model's source and widens BF16 / F16 / F32 to float32 (exactly).
 */
export function modelTensorLoader(model: ModelInfo, signal?: AbortSignal): TensorLoader {
  return async (name) => {
    const location = model.tensors.get(name);
    if (!location) throw new Error(`${model.source.label}: tensor ${name} is missing`);
    const { dtype } = location;
    if (!isFloatDtype(dtype)) throw new Error(`${model.source.label}: tensor ${name} is ${dtype}; the evaluator reads BF16, F16 or F32`);
    const bytes = await model.source.read(location.file, location.offset, location.byteLength, signal);
    const count = location.byteLength / (dtype === "F32" ? 4 : 2);
    const values = new Float32Array(count);
    widenToFloat32Bits(dtype, viewFloatBits(dtype, bytes), 0, count, new Uint32Array(values.buffer));
    return values;
  };
}
