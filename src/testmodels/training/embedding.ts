import { zerosLike, type FloatArray } from "./floatArrays.ts";

/** Rows of the [vocab, width] table for each id: the embedding lookup. */
export function embeddingForward(table: FloatArray, ids: Int32Array, width: number): FloatArray {
  const y = zerosLike(table, ids.length * width);
  const vocab = table.length / width;
  ids.forEach((id, row) => {
    if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} at position ${row} is outside the vocabulary of ${vocab} rows`);
    y.set(table.subarray(id * width, (id + 1) * width), row * width);
  });
  return y;
}

/** The backward pass of embeddingForward: adds each row's gradient into its id's row of `tableGradient`, in position order. */
export function embeddingBackward(dy: FloatArray, ids: Int32Array, width: number, tableGradient: FloatArray): void {
  ids.forEach((id, row) => {
    for (let i = 0; i < width; i++) tableGradient[id * width + i] = tableGradient[id * width + i]! + dy[row * width + i]!;
  });
}
