/**
 * What the vector inspector reports (inspectVectors): statistics of the raw task vectors of a recipe,
 * per tensor of the target, per heatmap cell (a layer's module) and over the whole model, without
 * merging. One type for the CLI's `inspect --json` and the studio's heatmap.
 *
 * The vector is the raw one: v_j = fl32(plus_j - minus_j), step 2 of ../shared/recipe-v2.md, before
 * any weight, sparsification, consensus or control. Every statistic is accumulated in float64.
 * Non-finite elements (NaN, +-Inf) of a vector, and of the target, are left out of every statistic
 * of that input and counted in `nonFinite` instead, so one NaN never turns a norm into NaN.
 */

/** The heatmap's columns inside a layer, in order; `other` holds a layer's tensors of no known module. */
export const LAYER_MODULES = ["q", "k", "v", "o", "gate", "up", "down", "norms", "other"] as const;
/** Cells outside the layers: the input embeddings, lm_head, the final norm and anything else. */
export const MODEL_MODULES = ["embed", "lm_head", "norms", "other"] as const;
export type InspectionModule = (typeof LAYER_MODULES)[number] | (typeof MODEL_MODULES)[number];

/** One vector's statistics over some elements (a tensor, a cell, the model). */
export interface VectorStatistics {
  /** Sum of v^2 over the finite elements. */
  sumSquares: number;
  /** ||v||2 = sqrt(sumSquares). */
  norm: number;
  /** ||v||2 / ||target||2 over the same elements; null when the target's norm is 0. */
  relativeNorm: number | null;
  /** max |v| over the finite elements (0 when there is none). */
  maxAbs: number;
  /** Elements equal to +0 or -0. */
  zeros: number;
  /** zeros / elements (every element counts, non-finite ones included). */
  zeroShare: number;
  /** NaN and +-Inf elements, left out of every other statistic. */
  nonFinite: number;
}

/** Two vectors i < j compared over the same elements. */
export interface PairStatistics {
  /** [i, j], the vectors' indices in the recipe. */
  vectors: [number, number];
  /** Sum of v_i * v_j over the elements finite in both. */
  dot: number;
  /** dot / (||v_i||2 ||v_j||2); null when either norm is 0. */
  cosine: number | null;
  /** Elements where both are finite and non-zero with the same sign. */
  sameSign: number;
  /** Elements where both are finite and non-zero (-0 is zero). */
  bothNonZero: number;
  /** sameSign / bothNonZero; null when no element is non-zero in both. */
  signAgreement: number | null;
}

/** Statistics over a set of elements of the target: a tensor, a cell of the heatmap, or the whole model. */
export interface InspectedElements {
  /** Elements inspected (a tensor's merged elements: with vocab "common", the common rows). */
  elements: number;
  targetSumSquares: number;
  targetNorm: number;
  targetNonFinite: number;
  /** One per vector of the recipe, in recipe order. */
  vectors: VectorStatistics[];
  /** One per pair i < j, in the order (0,1), (0,2), ..., (1,2), ...; empty with one vector. */
  pairs: PairStatistics[];
}

export interface InspectedTensor extends InspectedElements {
  name: string;
  shape: number[];
  /** The layer (model.layers.i.*), or null outside the layers. */
  layer: number | null;
  module: InspectionModule;
}

/**
 * A cell of the heatmap: every tensor of one module in one layer (q_proj's weight and bias are
 * both "q"), or one module outside the layers. Its statistics are those of the concatenation of its
 * tensors: sums of squares, dot products and counts add up (so a norm is the square root of the sum
 * of the tensors' sums of squares, a cosine the summed dot over the product of those norms), max |v|
 * is the largest of the tensors'.
 */
export interface InspectedCell extends InspectedElements {
  layer: number | null;
  module: InspectionModule;
  tensors: string[];
}

export interface VectorInspection {
  format: "merge-studio-vector-inspection";
  version: 1;
  /** What the statistics mean, in words (written into the JSON so that a reader needs no source). */
  definitions: Record<string, string>;
  /** The models inspected as their sources name them (Hub repos pinned: org/name@sha). */
  inputs: { target: string; vectors: { plus: string; minus: string }[] };
  /** Layers of the target (rows of the heatmap). */
  layers: number;
  tensors: InspectedTensor[];
  cells: InspectedCell[];
  /** The whole model: every inspected tensor concatenated. */
  total: InspectedElements;
  /** Tensors of the target not inspected, each with the reason (only in the target, not float, tied lm_head). */
  skipped: { name: string; reason: string }[];
}

export const INSPECTION_DEFINITIONS: Record<string, string> = {
  vector: "the raw task vector v_j = fl32(plus_j - minus_j) (recipe-v2 step 2), before weights, sparsification, consensus and control",
  accumulation: "float64 (sums over blocks of elements in row-major order, added up)",
  nonFinite: "NaN and +-Inf elements of an input are left out of all of its statistics and counted in nonFinite",
  relativeNorm: "||v_j||2 / ||target||2 over the same elements (null when the target's norm is 0)",
  zeroShare: "elements of v_j equal to +0 or -0, over all elements",
  cosine: "sum(v_i * v_j) / (||v_i||2 ||v_j||2), the dot over elements finite in both (null when a norm is 0)",
  signAgreement: "over elements where v_i and v_j are both finite and non-zero (-0 is zero): the share where they have the same sign (null when there is none)",
  cells: "a cell (a module of a layer, or embed / lm_head / final norms outside the layers) is the concatenation of its tensors: sums of squares, dots and counts add, max |v| is the largest",
};

/** The layer and heatmap module of a tensor, from its name (transformers' Qwen2 / Llama names). */
export function tensorCell(name: string): { layer: number | null; module: InspectionModule } {
  const inLayer = /^model\.layers\.(\d+)\.(.*)$/.exec(name);
  if (!inLayer) {
    if (/(^|\.)embed_tokens\./.test(name)) return { layer: null, module: "embed" };
    if (/^lm_head\./.test(name)) return { layer: null, module: "lm_head" };
    if (/norm/.test(name)) return { layer: null, module: "norms" };
    return { layer: null, module: "other" };
  }
  const rest = inLayer[2]!;
  const projection = /(?:^|\.)(q|k|v|o|gate|up|down)_proj\./.exec(rest);
  const module: InspectionModule = projection ? (projection[1] as InspectionModule) : /norm/.test(rest) ? "norms" : "other";
  return { layer: Number(inLayer[1]), module };
}
