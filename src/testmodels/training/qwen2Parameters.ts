import { QWEN2_INIT } from "../generateQwen2Model.ts";
import { qwen2Tensors, type Qwen2Shape } from "../qwen2Shape.ts";
import { addGaussian, deriveSeed, splitMix32 } from "../seededGaussian.ts";
import { zerosLike, type FloatArray, type FloatArrayType } from "./floatArrays.ts";

/** A Qwen2ForCausalLM's tensors under transformers' names and layouts ([out, in] for linear weights), in state-dict order. */
export interface Qwen2Parameters {
  shape: Qwen2Shape;
  tensors: Map<string, FloatArray>;
}

/**
 * The initial parameters for `seed`: the values generateQwen2Model writes for the same initSeed (a
 * tensor's values depend only on the seed and its name), held as `arrayType`.
 */
export function initQwen2Parameters(shape: Qwen2Shape, seed: number, arrayType: FloatArrayType): Qwen2Parameters {
  const tensors = new Map<string, FloatArray>();
  for (const tensor of qwen2Tensors(shape)) {
    const { mean, std } = QWEN2_INIT[tensor.kind];
    const values = new Float32Array(tensor.shape.reduce((product, dim) => product * dim, 1)).fill(mean);
    addGaussian(values, values.length, splitMix32(deriveSeed(seed, `init ${tensor.name}`)), std);
    tensors.set(tensor.name, arrayType === Float32Array ? values : Float64Array.from(values));
  }
  return { shape, tensors };
}

/** Zero-filled arrays of the same names, sizes and types as `parameters`' tensors (for gradients, optimizer moments). */
export function zerosLikeParameters(parameters: Qwen2Parameters): Map<string, FloatArray> {
  return new Map([...parameters.tensors].map(([name, values]) => [name, zerosLike(values)]));
}

/** `parameters`' tensor `name`; throws naming it when missing. */
export function parameter(parameters: Qwen2Parameters | Map<string, FloatArray>, name: string): FloatArray {
  const tensors = parameters instanceof Map ? parameters : parameters.tensors;
  const values = tensors.get(name);
  if (values === undefined) throw new Error(`the model has no tensor ${name}`);
  return values;
}
