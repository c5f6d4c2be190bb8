import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import type { FloatChunk } from "../engine/mergeChunk.ts";
import { narrowFromFloat32Bits, viewFloatBits, widenToFloat32Bits, writableFloatBits, type FloatBits } from "../numeric/floatBlocks.ts";
import { outputBytes } from "../numeric/wasm/wasmKernelModule.ts";
import { magnitudeOrderKey, type MagnitudeStatistics, type TermChunk } from "./magnitudeStatistics.ts";
import { hashElement, hashPrefix, RANDOM_KEEP_STREAM, RANDOM_SIGN_STREAM, tensorKey } from "./recipeHash.ts";
import { METHOD_STEPS, type TensorRecipe } from "./TensorRecipe.ts";

/** One chunk of X: the target's elements and, aligned with TensorRecipe.terms, each term's plus and minus. */
export interface RecipeChunkInputs {
  target: FloatChunk;
  terms: readonly TermChunk[];
}

/** Elements per block: the float32 scratch of every term stays in the CPU's caches. */
const BLOCK = 4096;

interface TermBlock {
  plus: Float32Array;
  minus: Float32Array;
  /** v_j, then s_j in place. */
  value: Float32Array;
  plusBits: Uint32Array;
  minusBits: Uint32Array;
  valueBits: Uint32Array;
}

function termBlock(): TermBlock {
  const [plus, minus, value] = [new Float32Array(BLOCK), new Float32Array(BLOCK), new Float32Array(BLOCK)];
  return {
    plus,
    minus,
    value,
    plusBits: new Uint32Array(plus.buffer),
    minusBits: new Uint32Array(minus.buffer),
    valueBits: new Uint32Array(value.buffer),
  };
}

/** Scratch reused across calls, one block per term, grown to the most terms seen. */
const termBlocks: TermBlock[] = [];
const target = new Float32Array(BLOCK);
const targetBits = new Uint32Array(target.buffer);
const out = new Float32Array(BLOCK);
const outBits = new Uint32Array(out.buffer);

/**
 * Steps 6-8 without consensus, on the block's s_j: every term is included, so D is the same for
 * every element. out = fl32(t + mixed) as float32.
 */
function mixAll(termCount: number, divisor: number, normalize: boolean, n: number): void {
  out.set(termBlocks[0]!.value.subarray(0, n));
  for (let j = 1; j < termCount; j++) {
    const s = termBlocks[j]!.value;
    for (let i = 0; i < n; i++) out[i] = out[i]! + s[i]!;
  }
  if (normalize && divisor !== 0) for (let i = 0; i < n; i++) out[i] = out[i]! / divisor;
  for (let i = 0; i < n; i++) out[i] = target[i]! + out[i]!;
}

/** Steps 5-8 with consensus: the sign election, then the included terms' sum (and D) per element. */
function mixElected(termCount: number, weights: number[], normalize: boolean, n: number): void {
  const values = termBlocks.slice(0, termCount).map((block) => block.value);
  const first = values[0]!;
  for (let i = 0; i < n; i++) {
    let sum = first[i]!;
    for (let j = 1; j < termCount; j++) sum = Math.fround(sum + values[j]![i]!);
    // majority = +1 when sum >= 0, else -1 (NaN too); a term is included when its sign equals it.
    const positive = sum >= 0;
    let included = false;
    let mixed = 0;
    let divisor = 0;
    for (let j = 0; j < termCount; j++) {
      const s = values[j]![i]!;
      if (positive ? !(s > 0) : !(s < 0)) continue;
      if (included) {
        mixed = Math.fround(mixed + s);
        divisor = Math.fround(divisor + weights[j]!);
      } else {
        mixed = s;
        divisor = weights[j]!;
        included = true;
      }
    }
    if (!included) outBits[i] = targetBits[i]!;
    else if (normalize && divisor !== 0) out[i] = target[i]! + Math.fround(mixed / divisor);
    else out[i] = target[i]! + mixed;
  }
}

/** mergeRecipeChunk's signature: what every recipe kernel (wasm, WebGPU asynchronously) takes. */
export type RecipeChunkMerge = typeof mergeRecipeChunk;

/**
 * Merges elements firstElement .. firstElement + n - 1 of tensor X by its recipe (steps 1-8 of
 * ../shared/recipe-v2.md), n the chunk's length, and rounds each result to `outDtype`. Every
 * float32 step is one JavaScript operation followed by Math.fround or a Float32Array store. The
 * result depends on the element indices only, never on how X is cut into chunks. `stats` is
 * computeMagnitudeStatistics' result for X, needed when needsMagnitudeStatistics(recipe).
 */
export function mergeRecipeChunk(
  recipe: TensorRecipe,
  stats: MagnitudeStatistics | undefined,
  inputs: RecipeChunkInputs,
  firstElement: number,
  outDtype: FloatDtype,
  into?: Uint8Array,
): Uint8Array {
  const { sparsification, consensus } = METHOD_STEPS[recipe.method];
  const terms = recipe.terms;
  if (inputs.terms.length !== terms.length) {
    throw new Error(`internal: tensor ${recipe.tensorName}: ${inputs.terms.length} term chunks for ${terms.length} terms`);
  }
  const t = viewFloatBits(inputs.target.dtype, inputs.target.bytes);
  const count = t.length;
  const plusBits: FloatBits[] = [];
  const minusBits: FloatBits[] = [];
  for (const chunk of inputs.terms) {
    const p = viewFloatBits(chunk.plus.dtype, chunk.plus.bytes);
    const m = viewFloatBits(chunk.minus.dtype, chunk.minus.bytes);
    if (p.length !== count || m.length !== count) {
      throw new Error(`internal: tensor ${recipe.tensorName}: chunk sizes differ (target ${count}, plus ${p.length}, minus ${m.length} elements)`);
    }
    plusBits.push(p);
    minusBits.push(m);
  }
  if (stats && (stats.terms.length !== terms.length || firstElement + count > stats.numel)) {
    throw new Error(
      `internal: tensor ${recipe.tensorName}: statistics of ${stats.terms.length} terms over ${stats.numel} elements ` +
        `do not fit a chunk of ${terms.length} terms at elements ${firstElement} .. ${firstElement + count - 1}`,
    );
  }
  const ranges = terms.map((_, j) => stats?.terms[j]);
  const magnitudeBased = sparsification === "magnitude" || sparsification === "magnitude_outliers";
  if (magnitudeBased && terms.some((term, j) => term.density < 1 && !ranges[j])) {
    throw new Error(`internal: tensor ${recipe.tensorName}: magnitude statistics missing`);
  }
  const key = tensorKey(recipe.tensorName);
  const weights = terms.map((term) => Math.fround(term.weight));
  // D without consensus (every term included); 0 + w_0 is exactly w_0.
  const constantDivisor = weights.reduce((sum, w) => Math.fround(sum + w), 0);
  const randomKeep = terms.map((term) => sparsification === "random" && term.density < 1);
  const keepPrefixes = terms.map((term) => hashPrefix(recipe.seed >>> 0, key, RANDOM_KEEP_STREAM, term.index));
  const keepBelow = terms.map((term) => Math.fround(term.density));
  const rescales = terms.map((term) => Math.fround(1 / term.density));
  const control = recipe.control;
  const signPrefixes = control && terms.map((term) => hashPrefix(control.seed >>> 0, key, RANDOM_SIGN_STREAM, term.index));
  while (termBlocks.length < terms.length) termBlocks.push(termBlock());

  const outBytes = outputBytes(count * DTYPE_BYTES[outDtype], into);
  const outWords = writableFloatBits(outDtype, outBytes);
  for (let start = 0; start < count; start += BLOCK) {
    const n = Math.min(BLOCK, count - start);
    const blockStart = firstElement + start;
    widenToFloat32Bits(inputs.target.dtype, t, start, n, targetBits);
    for (let j = 0; j < terms.length; j++) {
      const block = termBlocks[j]!;
      const { plus, minus, value, valueBits } = block;
      widenToFloat32Bits(inputs.terms[j]!.plus.dtype, plusBits[j]!, start, n, block.plusBits);
      widenToFloat32Bits(inputs.terms[j]!.minus.dtype, minusBits[j]!, start, n, block.minusBits);
      const w = weights[j]!;
      const range = ranges[j];
      if (!signPrefixes && !range && !randomKeep[j]) {
        for (let i = 0; i < n; i++) value[i] = Math.fround(plus[i]! - minus[i]!) * w;
        continue;
      }
      for (let i = 0; i < n; i++) value[i] = plus[i]! - minus[i]!;
      if (signPrefixes) {
        const prefix = signPrefixes[j]!;
        for (let i = 0; i < n; i++) {
          if (hashElement(prefix, blockStart + i) >>> 31) valueBits[i] = (valueBits[i]! ^ 0x80000000) >>> 0;
        }
      }
      if (range) {
        const { pattern: toPattern, lastTieIndex: toLastTie } = range.to;
        const { pattern: fromPattern, lastTieIndex: fromLastTie } = range.from;
        for (let i = 0; i < n; i++) {
          const orderKey = magnitudeOrderKey(valueBits[i]!);
          const element = blockStart + i;
          // In the top `to` (steps 3's order), and not in the top `from`.
          const kept =
            (orderKey > toPattern || (orderKey === toPattern && element <= toLastTie)) &&
            !(orderKey > fromPattern || (orderKey === fromPattern && element <= fromLastTie));
          value[i] = kept ? value[i]! * w : 0;
        }
      } else if (randomKeep[j]) {
        const prefix = keepPrefixes[j]!;
        const below = keepBelow[j]!;
        const c = rescales[j]!;
        const rescale = recipe.rescale;
        for (let i = 0; i < n; i++) {
          const u = (hashElement(prefix, blockStart + i) >>> 8) * 2 ** -24;
          value[i] = u < below ? Math.fround(rescale ? Math.fround(value[i]! * c) : value[i]!) * w : 0;
        }
      } else {
        for (let i = 0; i < n; i++) value[i] = value[i]! * w;
      }
    }
    if (terms.length === 0) outBits.set(targetBits.subarray(0, n));
    else if (consensus) mixElected(terms.length, weights, recipe.normalize, n);
    else mixAll(terms.length, constantDivisor, recipe.normalize, n);
    narrowFromFloat32Bits(outDtype, outBits, n, outWords, start);
  }
  return outBytes;
}
