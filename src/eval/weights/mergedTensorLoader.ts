import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../../core/dtypes.ts";
import { computeChunkHere } from "../../core/engine/ChunkComputer.ts";
import type { MergePlan, PlannedTensor } from "../../core/plan/planMerge.ts";
import { viewFloatBits, widenToFloat32Bits } from "../../core/numeric/floatBlocks.ts";
import type { TensorLoader } from "../onnx/buildQwen2Onnx.ts";
import { checkedRange } from "../onnx/modelTensorLoader.ts";

/** Elements per step: bounds the transient buffers (three inputs and one output) to a few MB. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * A TensorLoader over a merge plan: each tensor of the merged model, computed by the core's chunk
 * arithmetic as it is asked for and widened to float32, so a recipe can be evaluated without
 * writing its folder. The values are those of the saved merge (rounded to the output dtype first),
 * chunk by chunk, so memory holds the float32 result and a few MB more.
 */
export function mergedTensorLoader(plan: MergePlan, signal?: AbortSignal): TensorLoader {
  if (!plan.ok) throw new Error("the models cannot be merged: see the compatibility report");
  const byName = new Map(plan.tensors.map((tensor) => [tensor.name, tensor]));
  return async (name, range) => {
    const tensor = byName.get(name);
    if (!tensor) throw new Error(`the merged model has no tensor ${name}`);
    const { outDtype } = tensor;
    if (!isFloatDtype(outDtype)) throw new Error(`tensor ${name} is ${outDtype}; the evaluator reads BF16, F16 or F32`);
    const count = tensor.shape.reduce((product, dim) => product * dim, 1);
    const wanted = checkedRange(name, range, count);
    const values = new Float32Array(wanted.end - wanted.start);
    const bits = new Uint32Array(values.buffer);
    for (let start = wanted.start; start < wanted.end; ) {
      signal?.throwIfAborted();
      // Chunks never straddle the end of the merged rows (vocab "common": the rest is the target's).
      const end = Math.min(wanted.end, start + CHUNK_ELEMENTS, start < tensor.mergedElements ? tensor.mergedElements : count);
      const out = await computeRange(plan, tensor, outDtype, start, end, signal);
      widenToFloat32Bits(outDtype, viewFloatBits(outDtype, out), 0, end - start, bits.subarray(start - wanted.start, end - wanted.start));
      start = end;
    }
    return values;
  };
}

async function computeRange(plan: MergePlan, tensor: PlannedTensor, outDtype: FloatDtype, start: number, end: number, signal?: AbortSignal): Promise<Uint8Array> {
  const read = async (role: "target" | "plus" | "minus") => {
    const location = tensor[role]!;
    const size = DTYPE_BYTES[location.dtype];
    const bytes = await plan.models[role].source.read(location.file, location.offset + start * size, (end - start) * size, signal);
    return { dtype: location.dtype as FloatDtype, bytes };
  };
  if (start >= tensor.mergedElements) {
    const target = await read("target");
    return target.dtype === outDtype ? target.bytes : computeChunkHere({ kind: "convert", input: target, outDtype });
  }
  const [target, plus, minus] = await Promise.all([read("target"), read("plus"), read("minus")]);
  const { method, parameters } = plan.options;
  return computeChunkHere({ kind: "merge", methodId: method.id, parameters, target, plus, minus, outDtype });
}
