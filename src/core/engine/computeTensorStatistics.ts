import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import type { ModelInfo, TensorLocation } from "../model/inspectModel.ts";
import type { PlannedTensor, RecipeInputs } from "../plan/planMerge.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics, termNeedsMagnitudeStatistics, type MagnitudeStatistics, type TermChunk } from "../recipe/magnitudeStatistics.ts";

/** How the statistics pass reads: into a buffer of `length` bytes from the pool when given one, handed back after use. */
export interface StatisticsReadOptions {
  /** Elements per read and input, at most. */
  chunkElements: number;
  take?: (length: number) => Uint8Array;
  give?: (bytes: Uint8Array) => void;
  signal?: AbortSignal;
}

/**
 * The magnitude statistics of one planned tensor (computeMagnitudeStatistics over its merged
 * elements: N = mergedElements), or undefined when its recipe needs none. Reads the inputs of the
 * terms that need them, `chunkElements` at a time, once per pass of the radix select: memory holds
 * one chunk per such input and the histograms, never the tensor.
 */
export async function computeTensorStatistics(
  models: RecipeInputs<ModelInfo>,
  tensor: PlannedTensor,
  options: StatisticsReadOptions,
): Promise<MagnitudeStatistics | undefined> {
  const { recipe } = tensor;
  if (!needsMagnitudeStatistics(recipe)) return undefined;
  const { chunkElements, signal } = options;
  const needed = recipe.terms.map((term) => termNeedsMagnitudeStatistics(recipe, term));
  const read = async (model: ModelInfo, location: TensorLocation, start: number, count: number): Promise<TermChunk["plus"]> => {
    const width = DTYPE_BYTES[location.dtype];
    const bytes = await model.source.read(location.file, location.offset + start * width, count * width, signal, options.take?.(count * width));
    return { dtype: location.dtype as FloatDtype, bytes };
  };
  return computeMagnitudeStatistics(recipe, tensor.mergedElements, async (visit) => {
    for (let start = 0; start < tensor.mergedElements; ) {
      const count = Math.min(chunkElements, tensor.mergedElements - start);
      const chunks = await Promise.all(
        recipe.terms.map(async (term, k): Promise<TermChunk | undefined> => {
          if (!needed[k]) return undefined;
          const { plus, minus } = models.vectors[term.index]!;
          const [p, m] = await Promise.all([read(plus, tensor.terms[k]!.plus, start, count), read(minus, tensor.terms[k]!.minus, start, count)]);
          return { plus: p, minus: m };
        }),
      );
      const more = visit(start, chunks);
      for (const chunk of chunks) if (chunk) for (const input of [chunk.plus, chunk.minus]) options.give?.(input.bytes);
      if (!more) return;
      start += count;
    }
  });
}
