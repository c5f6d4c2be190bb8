import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../../core/dtypes.ts";
import { computeChunkHere, type ChunkSegment } from "../../core/engine/ChunkComputer.ts";
import { computeTensorStatistics } from "../../core/engine/computeTensorStatistics.ts";
import type { FloatChunk } from "../../core/engine/mergeChunk.ts";
import type { TensorLocation } from "../../core/model/inspectModel.ts";
import type { MagnitudeStatistics } from "../../core/recipe/magnitudeStatistics.ts";
import type { ModelSource } from "../../core/sources/ModelSource.ts";
import type { MergePlan, PlannedTensor } from "../../core/plan/planMerge.ts";
import { viewFloatBits, widenToFloat32Bits } from "../../core/numeric/floatBlocks.ts";
import type { TensorLoader } from "../onnx/buildQwen2Onnx.ts";
import { checkedRange } from "../onnx/modelTensorLoader.ts";

/** Elements per step: bounds the transient buffers (three inputs and one output) to a few MB. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * A TensorLoader over a merge plan: each tensor of the merged model, computed by the core's chunk
 * arithmetic (computeChunkHere, the tensor's recipe and, for magnitude-sparsified recipes, its
 * statistics computed once per tensor by computeTensorStatistics) as it is asked for and widened to
 * float32, so a recipe can be evaluated without writing its folder. The values are those of the saved merge (rounded to the output dtype first),
 * chunk by chunk, so memory holds the float32 result and a few MB more.
 */
export function mergedTensorLoader(plan: MergePlan, signal?: AbortSignal): TensorLoader {
  if (!plan.ok) throw new Error("the models cannot be merged: see the compatibility report");
  const byName = new Map(plan.tensors.map((tensor) => [tensor.name, tensor]));
  // A tensor's magnitude statistics, computed on its first merged range and kept for its other ranges.
  const statistics = new Map<PlannedTensor, Promise<MagnitudeStatistics | undefined>>();
  const statisticsOf = (tensor: PlannedTensor) => () => {
    let computed = statistics.get(tensor);
    if (!computed) {
      computed = computeTensorStatistics(plan.models, tensor, { chunkElements: CHUNK_ELEMENTS, signal });
      statistics.set(tensor, computed);
    }
    return computed;
  };
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
      const out = await computeRange(plan, tensor, outDtype, start, end, statisticsOf(tensor), signal);
      widenToFloat32Bits(outDtype, viewFloatBits(outDtype, out), 0, end - start, bits.subarray(start - wanted.start, end - wanted.start));
      start = end;
    }
    return values;
  };
}

async function computeRange(
  plan: MergePlan,
  tensor: PlannedTensor,
  outDtype: FloatDtype,
  start: number,
  end: number,
  statistics: () => Promise<MagnitudeStatistics | undefined>,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const read = async (source: ModelSource, location: TensorLocation): Promise<FloatChunk> => {
    const size = DTYPE_BYTES[location.dtype];
    const bytes = await source.read(location.file, location.offset + start * size, (end - start) * size, signal);
    return { dtype: location.dtype as FloatDtype, bytes };
  };
  const target = read(plan.models.target.source, tensor.target);
  if (start >= tensor.mergedElements) {
    const bytes = await target;
    return bytes.dtype === outDtype ? bytes.bytes : computeChunkHere({ kind: "convert", input: bytes, outDtype });
  }
  const computed = await statistics();
  const terms = await Promise.all(
    tensor.terms.map(async ({ plus, minus }, k) => {
      const vector = plan.models.vectors[tensor.recipe.terms[k]!.index]!;
      const [p, m] = await Promise.all([read(vector.plus.source, plus), read(vector.minus.source, minus)]);
      return { plus: p, minus: m };
    }),
  );
  const segment: ChunkSegment = { recipe: tensor.recipe, ...(computed ? { statistics: computed } : {}), firstElement: start, elements: end - start };
  return computeChunkHere({ kind: "merge", outDtype, target: await target, terms, segments: [segment] });
}
