/**
 * The trainer stores every tensor (parameters, activations, gradients, optimizer moments) in one
 * kind of typed array: Float32Array for training, Float64Array for the gradient checks. The layers
 * are written once for both; arithmetic runs in JavaScript numbers (float64) and each stored value
 * is rounded once to the array's type, in a fixed order, so a float32 run gives the same bytes on
 * every run.
 */
export type FloatArray = Float32Array | Float64Array;

export type FloatArrayType = Float32ArrayConstructor | Float64ArrayConstructor;

/** A zero-filled array of `length` elements of the same type as `like`. */
export function zerosLike(like: FloatArray, length: number = like.length): FloatArray {
  return like instanceof Float32Array ? new Float32Array(length) : new Float64Array(length);
}
