import type { FloatChunk } from "../engine/mergeChunk.ts";
import { viewFloatBits, widenToFloat32Bits } from "../numeric/floatBlocks.ts";
import { DTYPE_BYTES } from "../dtypes.ts";
import { createWasmMagnitudeCounter, type WasmMagnitudeCounter } from "../numeric/wasm/createWasmMagnitudeCounter.ts";
import { METHOD_STEPS, type TensorRecipe, type TensorTerm } from "./TensorRecipe.ts";

/** The two inputs of one term in a chunk: v_j = plus_j - minus_j. */
export interface TermChunk {
  plus: FloatChunk;
  minus: FloatChunk;
}

/**
 * The first `K` elements of a term's magnitude order ("top K"), decidable per element: element e
 * with order key k (magnitudeOrderKey) is in the top K when k > pattern, or k === pattern and
 * e <= lastTieIndex (equal magnitudes go by lower index first). K = 0: pattern 0xffffffff, which
 * no key reaches.
 */
export interface MagnitudeCut {
  pattern: number;
  lastTieIndex: number;
}

/** A term keeps the positions from.K .. to.K - 1 of its order: in the top `to`, not in the top `from`. */
export interface TermKeepRange {
  from: MagnitudeCut;
  to: MagnitudeCut;
}

/**
 * What the keep step of a magnitude-sparsified tensor needs, from a pass over the whole tensor:
 * per term (aligned with TensorRecipe.terms), the positions it keeps, or undefined when the term
 * keeps every element by its settings (no sparsification, random, or density 1).
 */
export interface MagnitudeStatistics {
  numel: number;
  terms: (TermKeepRange | undefined)[];
}

/**
 * Feeds the tensor's chunks in order, from element 0 to numel, to `visit`; called once per pass.
 * `visit` returns false when the pass needs no more chunks: the caller may stop reading there.
 */
export type ForEachTermChunk = (
  visit: (firstElement: number, terms: readonly (TermChunk | undefined)[]) => boolean,
) => Promise<void> | void;

const NO_ELEMENT: MagnitudeCut = { pattern: 0xffffffff, lastTieIndex: -1 };
const BINS = 65536;
const BLOCK = 4096;

/**
 * The order key of v's float32 bits: |v|'s pattern (sign cleared, so -0 = +0), every NaN one above
 * +Inf. A higher key is higher in the contract's magnitude order.
 */
export function magnitudeOrderKey(bits: number): number {
  const magnitude = bits & 0x7fffffff;
  return magnitude > 0x7f800000 ? 0x7f800001 : magnitude;
}

/** The range of order positions term keeps (step 3 of the contract), or undefined when it keeps all. */
function keptPositions(recipe: TensorRecipe, term: TensorTerm, numel: number): { from: number; to: number } | undefined {
  const { sparsification } = METHOD_STEPS[recipe.method];
  if (term.density >= 1) return undefined;
  if (sparsification === "magnitude") return { from: 0, to: Math.floor(term.density * numel) };
  if (sparsification !== "magnitude_outliers") return undefined;
  const keep = Math.floor(term.density * numel);
  let top = Math.floor(term.gamma * numel);
  let bottom = numel - keep - top;
  if (bottom < 0) {
    top += bottom;
    bottom = 0;
  }
  return { from: top, to: numel - bottom };
}

/** True when a term of this recipe needs the statistics pass (magnitude-based and density below 1). */
export function termNeedsMagnitudeStatistics(recipe: TensorRecipe, term: TensorTerm): boolean {
  return keptPositions(recipe, term, 1) !== undefined;
}

/** True when the tensor's recipe needs computeMagnitudeStatistics before its chunks are merged. */
export function needsMagnitudeStatistics(recipe: TensorRecipe): boolean {
  return recipe.terms.some((term) => termNeedsMagnitudeStatistics(recipe, term));
}

/** A cut still being selected: the rank K, the high 16 bits found by pass 1, then the rest. */
interface Selection {
  term: number;
  rank: number;
  cut: MagnitudeCut;
  highBin: number;
  rankInBin: number;
  tieKeep: number;
  tiesSeen: number;
}

/**
 * Computes the magnitude statistics of one tensor with bounded memory: a radix select over the
 * order keys of |v_j| (v_j = fl32(plus_j - minus_j); the control's sign flip leaves |v_j| as is).
 * Pass 1 counts the keys' high 16 bits (65536 bins per term), pass 2 the low 16 bits of the keys in
 * the bin that holds the K-th element, which gives the threshold pattern and how many elements equal
 * to it are kept; only when some but not all equal ones are kept, pass 3 finds the index of the last
 * kept one. Memory: two or three histograms of 65536 counts per term, whatever numel is.
 * The keys are computed and counted by `counter` (WebAssembly SIMD, by default where it runs and
 * numel is below 2^32); with null, by the JavaScript loops here, the reference.
 */
export async function computeMagnitudeStatistics(
  recipe: TensorRecipe,
  numel: number,
  forEachChunk: ForEachTermChunk,
  counter: ((histograms: number) => WasmMagnitudeCounter | null) | null = numel < 2 ** 32 ? createWasmMagnitudeCounter : null,
): Promise<MagnitudeStatistics> {
  const ranges = recipe.terms.map((term) => keptPositions(recipe, term, numel));
  const selections: Selection[] = [];
  const cutFor = (term: number, rank: number): MagnitudeCut => {
    if (rank <= 0) return NO_ELEMENT;
    if (rank >= numel) return { pattern: 0, lastTieIndex: numel - 1 };
    const selection: Selection = { term, rank, cut: { ...NO_ELEMENT }, highBin: 0, rankInBin: 0, tieKeep: 0, tiesSeen: 0 };
    selections.push(selection);
    return selection.cut;
  };
  const terms = ranges.map((range, term) => range && { from: cutFor(term, range.from), to: cutFor(term, range.to) });
  if (selections.length === 0) return { numel, terms };

  // One histogram per selecting term in pass 1, then one per selection in pass 2.
  const selecting = [...new Set(selections.map((selection) => selection.term))];
  const wasm = counter?.(Math.max(selecting.length, selections.length)) ?? null;
  const histogramOf = (k: number) => wasm?.histograms[k] ?? new Float64Array(BINS);
  const highHistograms = selecting.map((_, k) => histogramOf(k));
  await keyPass(recipe, numel, selecting, forEachChunk, (term, chunk, length) => {
    const k = selecting.indexOf(term);
    if (wasm) wasm.countHigh(chunk.plus, chunk.minus, 0, length, k);
    else {
      const histogram = highHistograms[k]!;
      forEachKeyBlock(chunk, length, (keys, count) => {
        for (let i = 0; i < count; i++) histogram[keys[i]! >>> 16]!++;
        return true;
      });
    }
    return true;
  });
  for (const selection of selections) {
    const [bin, rankInBin] = binOfRank(highHistograms[selecting.indexOf(selection.term)]!, selection.rank);
    selection.highBin = bin;
    selection.rankInBin = rankInBin;
  }
  // The counter's histograms serve pass 2 again.
  wasm?.histograms.forEach((histogram) => histogram.fill(0));
  const lowHistograms = selections.map((_, k) => histogramOf(k));

  await keyPass(recipe, numel, selecting, forEachChunk, (term, chunk, length) => {
    selections.forEach((selection, k) => {
      if (selection.term !== term) return;
      const { highBin } = selection;
      if (wasm) wasm.countLow(chunk.plus, chunk.minus, 0, length, highBin, k);
      else {
        const histogram = lowHistograms[k]!;
        forEachKeyBlock(chunk, length, (keys, count) => {
          for (let i = 0; i < count; i++) {
            const key = keys[i]!;
            if (key >>> 16 === highBin) histogram[key & 0xffff]!++;
          }
          return true;
        });
      }
    });
    return true;
  });
  const partial: Selection[] = [];
  selections.forEach((selection, k) => {
    const histogram = lowHistograms[k]!;
    const [low, tieKeep] = binOfRank(histogram, selection.rankInBin);
    selection.cut.pattern = ((selection.highBin << 16) | low) >>> 0;
    if (tieKeep === histogram[low]) selection.cut.lastTieIndex = numel - 1;
    else {
      selection.tieKeep = tieKeep;
      partial.push(selection);
    }
  });
  if (partial.length === 0) return { numel, terms };

  await keyPass(recipe, numel, [...new Set(partial.map((selection) => selection.term))], forEachChunk, (term, chunk, length, first) => {
    for (const selection of partial) {
      if (selection.term !== term || selection.tiesSeen === selection.tieKeep) continue;
      const { pattern } = selection.cut;
      const need = selection.tieKeep - selection.tiesSeen;
      if (wasm) {
        const found = wasm.findTie(chunk.plus, chunk.minus, 0, length, pattern, need);
        if (found >= 0) {
          selection.tiesSeen = selection.tieKeep;
          selection.cut.lastTieIndex = first + found;
        } else selection.tiesSeen += -1 - found;
        continue;
      }
      forEachKeyBlock(chunk, length, (keys, count, offset) => {
        for (let i = 0; i < count; i++) {
          if (keys[i] === pattern && ++selection.tiesSeen === selection.tieKeep) {
            selection.cut.lastTieIndex = first + offset + i;
            return false;
          }
        }
        return true;
      });
    }
    return partial.some((selection) => selection.tiesSeen < selection.tieKeep);
  });
  return { numel, terms };
}

/** The bin holding the rank-th highest count (1-based, from the top bin down) and its rank within the bin. */
function binOfRank(histogram: ArrayLike<number>, rank: number): [number, number] {
  let above = 0;
  for (let bin = BINS - 1; bin >= 0; bin--) {
    const count = histogram[bin]!;
    if (above + count >= rank) return [bin, rank - above];
    above += count;
  }
  throw new Error(`internal: magnitude rank ${rank} is past the ${above} elements counted`);
}

const plus = new Float32Array(BLOCK);
const minus = new Float32Array(BLOCK);
const difference = new Float32Array(BLOCK);
const plusBits = new Uint32Array(plus.buffer);
const minusBits = new Uint32Array(minus.buffer);
const differenceBits = new Uint32Array(difference.buffer);

/**
 * The JavaScript reference of the keys: the order keys of v = plus - minus over the chunk's first
 * `length` elements, block by block, to `visit(keys, count, offset)` until it returns false.
 */
function forEachKeyBlock(chunk: TermChunk, length: number, visit: (keys: Uint32Array, count: number, offset: number) => boolean): void {
  const p = viewFloatBits(chunk.plus.dtype, chunk.plus.bytes);
  const m = viewFloatBits(chunk.minus.dtype, chunk.minus.bytes);
  for (let start = 0; start < length; start += BLOCK) {
    const count = Math.min(BLOCK, length - start);
    widenToFloat32Bits(chunk.plus.dtype, p, start, count, plusBits);
    widenToFloat32Bits(chunk.minus.dtype, m, start, count, minusBits);
    for (let i = 0; i < count; i++) difference[i] = plus[i]! - minus[i]!;
    for (let i = 0; i < count; i++) differenceBits[i] = magnitudeOrderKey(differenceBits[i]!);
    if (!visit(differenceBits, count, start)) return;
  }
}

/**
 * One pass over the tensor's chunks: each term in `terms` of each chunk, with the chunk's length and
 * first element, to `onTerm`, until it returns false. Checks that the chunks cover 0 .. numel in
 * order, or up to where onTerm had what it needed, and that a chunk's inputs have one length.
 */
async function keyPass(
  recipe: TensorRecipe,
  numel: number,
  terms: number[],
  forEachChunk: ForEachTermChunk,
  onTerm: (term: number, chunk: TermChunk, length: number, firstElement: number) => boolean,
): Promise<void> {
  let next = 0;
  let wantsMore = true;
  await forEachChunk((firstElement, chunks) => {
    if (!wantsMore) return false;
    if (firstElement !== next) {
      throw new Error(`internal: tensor ${recipe.tensorName}: statistics chunk starts at element ${firstElement}, expected ${next}`);
    }
    let length: number | undefined;
    for (const term of terms) {
      const chunk = chunks[term];
      if (!chunk) throw new Error(`internal: tensor ${recipe.tensorName}: statistics chunk at element ${firstElement} lacks term ${recipe.terms[term]!.index}`);
      const p = Math.floor(chunk.plus.bytes.byteLength / DTYPE_BYTES[chunk.plus.dtype]);
      const m = Math.floor(chunk.minus.bytes.byteLength / DTYPE_BYTES[chunk.minus.dtype]);
      length ??= p;
      if (p !== length || m !== length) {
        throw new Error(`internal: tensor ${recipe.tensorName}: statistics chunk sizes differ at element ${firstElement}`);
      }
      if (wantsMore) wantsMore = onTerm(term, chunk, length, firstElement);
    }
    next = firstElement + (length ?? 0);
    return wantsMore;
  });
  if (wantsMore && next !== numel) throw new Error(`internal: tensor ${recipe.tensorName}: statistics pass covered ${next} of ${numel} elements`);
}
