/** A parameter a merge method declares, so UIs and the CLI can offer it without knowing the method. */
export interface MergeParameter {
  name: string;
  label: string;
  description: string;
  default: number;
  /** Suggested range for sliders; any finite value is accepted. */
  min: number;
  max: number;
  step: number;
}

export type MergeParameters = Record<string, number>;

/**
 * A merge method: per element, a function of the target, plus and minus values, computed on
 * float32 blocks. Methods live one per file and are listed in `mergeMethods`.
 */
export interface MergeMethod {
  id: string;
  label: string;
  /** The formula in words, e.g. "merged = target + alpha * (plus - minus)". */
  formula: string;
  parameters: MergeParameter[];
  /** True when these parameters leave the target unchanged: tensors are then copied bit for bit. */
  isIdentity(parameters: MergeParameters): boolean;
  /** out[i] = f(target[i], plus[i], minus[i]) for i < count, each result rounded to float32. */
  mergeBlock(
    target: Float32Array,
    plus: Float32Array,
    minus: Float32Array,
    out: Float32Array,
    count: number,
    parameters: MergeParameters,
  ): void;
}
