import { DTYPE_BYTES, type FloatDtype } from "../../dtypes.ts";
import type { FloatChunk } from "../../engine/mergeChunk.ts";
import type { MagnitudeCut } from "../../recipe/magnitudeStatistics.ts";
import type { RecipeChunkMerge } from "../../recipe/mergeRecipeChunk.ts";
import { hashPrefix, RANDOM_KEEP_STREAM, RANDOM_SIGN_STREAM, tensorKey } from "../../recipe/recipeHash.ts";
import { METHOD_STEPS } from "../../recipe/TensorRecipe.ts";
import {
  DTYPE_CODE,
  instantiateOverSharedMemory,
  instantiateWithOwnMemory,
  mergeKernelWasmBytes,
  outputBytes,
  type SharedMemoryMergeKernel,
} from "./wasmKernelModule.ts";

/** The WebAssembly SIMD recipe kernel: the same bytes as mergeRecipeChunk (src/core/recipe/mergeRecipeChunk.ts) for every input. */
export interface WasmRecipeKernel {
  /** mergeRecipeChunk's signature and result. */
  mergeRecipeChunk: RecipeChunkMerge;
  /** convertChunk's result (src/core/engine/mergeChunk.ts): `input` widened exactly and rounded to outDtype. */
  convertChunk(input: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): Uint8Array;
}

/**
 * The kernel over a shared memory: the module's raw merge and convert entry points (the same
 * instance, so one scratch area below dataStart), and mergeRecipeChunk, which reads the chunks that
 * lie in the memory where they are and writes there when `into` does.
 */
export type SharedMemoryRecipeKernel = SharedMemoryMergeKernel & WasmRecipeKernel;

interface RecipeExports {
  dataStart: WebAssembly.Global;
  recipeBlockElements: WebAssembly.Global;
  recipeStaging: WebAssembly.Global;
  stagingElements: WebAssembly.Global;
  recipeSlots: WebAssembly.Global;
  merge: SharedMemoryMergeKernel["merge"];
  convert: SharedMemoryMergeKernel["convert"];
  recipeBegin(n: number): void;
  recipeTerm(
    pType: number, p: number, mType: number, m: number, n: number,
    slot: number, accumulate: number, weight: number,
    flip: number, flipPrefix: number,
    keep: number, keepPrefix: number, keepBelow: number, rescale: number, rescaleBy: number,
    toPattern: number, toTieLimit: number, fromPattern: number, fromTieLimit: number,
    elementLow: number, elementHigh: number,
  ): void;
  recipeInclude(slot: number, n: number, weight: number): void;
  recipeFinish(tType: number, t: number, outType: number, out: number, n: number, normalize: number, divisor: number): void;
}

/** recipeTerm's $accumulate: where s_j goes besides its slot. */
const ACCUMULATE = { none: 0, mixed: 1, sum: 2 } as const;
/** recipeTerm's $keep. */
const KEEP = { all: 0, magnitude: 1, random: 2 } as const;
/** recipeFinish's $normalize. */
const NORMALIZE = { none: 0, constant: 1, perElement: 2 } as const;

const TWO_32 = 2 ** 32;

/** What recipeTerm needs of one term, besides the block. */
interface TermSettings {
  weight: number;
  flipPrefix: number;
  keep: number;
  keepPrefix: number;
  keepBelow: number;
  rescaleBy: number;
  range?: { from: MagnitudeCut; to: MagnitudeCut };
}

/**
 * Drives the kernel's recipe functions over one memory, block by block: inputs that lie in the
 * memory are read in place, the others copied into its staging regions; the output is written in
 * place when `into` lies there. A chunk's last block, when its length is not a whole number of
 * the groups the kernel reads and writes at a time, is staged.
 */
function recipeDriver(
  kernel: RecipeExports,
  memory: WebAssembly.Memory,
  liesInMemory?: (bytes: Uint8Array) => boolean,
): WasmRecipeKernel {
  const block = kernel.recipeBlockElements.value as number;
  const slots = kernel.recipeSlots.value as number;
  const staging = kernel.recipeStaging.value as number;
  const stagingElements = kernel.stagingElements.value as number;
  const regionBytes = stagingElements * 4;
  const region = { target: staging, plus: staging + regionBytes, minus: staging + 2 * regionBytes, out: staging + 3 * regionBytes };
  const dataStart = kernel.dataStart.value as number;
  if (memory.buffer.byteLength < dataStart) memory.grow(Math.ceil((dataStart - memory.buffer.byteLength) / 65536));
  // Cover the scratch area for good: a later grow (of a shared memory) leaves these views valid.
  const heap = new Uint8Array(memory.buffer);
  /** The memory's buffers seen at calls: a chunk whose bytes view one of them lies in the memory. */
  const generations = new WeakSet<ArrayBufferLike>();
  const lies = liesInMemory ?? ((bytes: Uint8Array) => generations.has(bytes.buffer));

  /** Where the kernel reads elements start .. start + n - 1 of `chunk`: in place, or copied into `staged`. */
  const addressOf = (chunk: FloatChunk, start: number, n: number, staged: number, inPlace: boolean): number => {
    const width = DTYPE_BYTES[chunk.dtype];
    if (inPlace) return chunk.bytes.byteOffset + start * width;
    heap.set(chunk.bytes.subarray(start * width, (start + n) * width), staged);
    return staged;
  };

  const convertChunk: WasmRecipeKernel["convertChunk"] = (input, outDtype, into) => {
    const count = elementCount(input);
    const outWidth = DTYPE_BYTES[outDtype];
    const out = outputBytes(count * outWidth, into);
    for (let start = 0; start < count; start += stagingElements) {
      const n = Math.min(stagingElements, count - start);
      kernel.convert(DTYPE_CODE[input.dtype], addressOf(input, start, n, region.target, false), DTYPE_CODE[outDtype], region.out, n);
      out.set(heap.subarray(region.out, region.out + n * outWidth), start * outWidth);
    }
    return out;
  };

  const mergeRecipeChunk: WasmRecipeKernel["mergeRecipeChunk"] = (recipe, stats, inputs, firstElement, outDtype, into) => {
    const { sparsification, consensus } = METHOD_STEPS[recipe.method];
    const terms = recipe.terms;
    if (inputs.terms.length !== terms.length) {
      throw new Error(`internal: tensor ${recipe.tensorName}: ${inputs.terms.length} term chunks for ${terms.length} terms`);
    }
    const count = elementCount(inputs.target);
    for (const chunk of inputs.terms) {
      const [plus, minus] = [elementCount(chunk.plus), elementCount(chunk.minus)];
      if (plus !== count || minus !== count) {
        throw new Error(`internal: tensor ${recipe.tensorName}: chunk sizes differ (target ${count}, plus ${plus}, minus ${minus} elements)`);
      }
    }
    if (stats && (stats.terms.length !== terms.length || firstElement + count > stats.numel)) {
      throw new Error(
        `internal: tensor ${recipe.tensorName}: statistics of ${stats.terms.length} terms over ${stats.numel} elements ` +
          `do not fit a chunk of ${terms.length} terms at elements ${firstElement} .. ${firstElement + count - 1}`,
      );
    }
    const magnitudeBased = sparsification === "magnitude" || sparsification === "magnitude_outliers";
    if (magnitudeBased && terms.some((term, j) => term.density < 1 && !stats?.terms[j])) {
      throw new Error(`internal: tensor ${recipe.tensorName}: magnitude statistics missing`);
    }

    const key = tensorKey(recipe.tensorName);
    const control = recipe.control;
    const settings: TermSettings[] = terms.map((term, j) => {
      const range = stats?.terms[j];
      const random = sparsification === "random" && term.density < 1;
      return {
        weight: Math.fround(term.weight),
        flipPrefix: control ? hashPrefix(control.seed >>> 0, key, RANDOM_SIGN_STREAM, term.index) : 0,
        keep: range ? KEEP.magnitude : random ? KEEP.random : KEEP.all,
        keepPrefix: hashPrefix(recipe.seed >>> 0, key, RANDOM_KEEP_STREAM, term.index),
        keepBelow: Math.fround(term.density),
        rescaleBy: Math.fround(1 / term.density),
        range,
      };
    });
    // D without consensus (every term included); 0 + w_0 is exactly w_0.
    const divisor = settings.reduce((sum, term) => Math.fround(sum + term.weight), 0);
    const normalize = !recipe.normalize ? NORMALIZE.none : consensus ? NORMALIZE.perElement : divisor !== 0 ? NORMALIZE.constant : NORMALIZE.none;
    // With consensus, each term's s_j is needed twice (the election's sum, then the mix): kept in
    // a slot when every term has one, else computed again.
    const cached = terms.length <= slots;

    generations.add(memory.buffer);
    const outWidth = DTYPE_BYTES[outDtype];
    const out = outputBytes(count * outWidth, into);
    const targetInPlace = lies(inputs.target.bytes);
    const plusInPlace = inputs.terms.map((chunk) => lies(chunk.plus.bytes));
    const minusInPlace = inputs.terms.map((chunk) => lies(chunk.minus.bytes));
    const outInPlace = lies(out);
    const targetCode = DTYPE_CODE[inputs.target.dtype];
    const outCode = DTYPE_CODE[outDtype];
    // One term, every element kept, no sign flip, no election, no division: r = t + fl32(p - m) * w,
    // today's task arithmetic, which the kernel's merge computes (in one fused loop for BF16).
    const plainOneTerm = terms.length === 1 && !consensus && !control && settings[0]!.keep === KEEP.all && normalize === NORMALIZE.none;

    // The recipe functions work on one block at a time; merge on as much as the staging holds, or,
    // when every chunk lies in the memory, on all whole groups of 8 in one call.
    const allInPlace = targetInPlace && outInPlace && plusInPlace.every(Boolean) && minusInPlace.every(Boolean);
    const step = !plainOneTerm ? block : allInPlace ? Math.max(8, count - (count % 8)) : stagingElements;
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      // merge reads and writes whole groups of 8 elements, the recipe functions groups of 4.
      const whole = n % (plainOneTerm ? 8 : 4) === 0;
      const outAddress = whole && outInPlace ? out.byteOffset + start * outWidth : region.out;
      const target = addressOf(inputs.target, start, n, region.target, whole && targetInPlace);
      if (plainOneTerm) {
        const { plus, minus } = inputs.terms[0]!;
        kernel.merge(
          targetCode, target,
          DTYPE_CODE[plus.dtype], addressOf(plus, start, n, region.plus, whole && plusInPlace[0]!),
          DTYPE_CODE[minus.dtype], addressOf(minus, start, n, region.minus, whole && minusInPlace[0]!),
          outCode, outAddress, n, settings[0]!.weight,
        );
      } else {
        const first = firstElement + start;
        const elementLow = first % TWO_32;
        const elementHigh = Math.floor(first / TWO_32);
        const tieLimit = (cut: MagnitudeCut) => Math.min(Math.max(cut.lastTieIndex - first, -1), n);
        const term = (j: number, slot: number, accumulate: number) => {
          const { plus, minus } = inputs.terms[j]!;
          const { weight, flipPrefix, keep, keepPrefix, keepBelow, rescaleBy, range } = settings[j]!;
          kernel.recipeTerm(
            DTYPE_CODE[plus.dtype], addressOf(plus, start, n, region.plus, whole && plusInPlace[j]!),
            DTYPE_CODE[minus.dtype], addressOf(minus, start, n, region.minus, whole && minusInPlace[j]!),
            n, slot, accumulate, weight,
            control ? 1 : 0, flipPrefix,
            keep, keepPrefix, keepBelow, recipe.rescale ? 1 : 0, rescaleBy,
            range ? range.to.pattern : 0, range ? tieLimit(range.to) : 0, range ? range.from.pattern : 0, range ? tieLimit(range.from) : 0,
            elementLow, elementHigh,
          );
        };
        kernel.recipeBegin(n);
        if (!consensus) {
          for (let j = 0; j < terms.length; j++) term(j, 0, ACCUMULATE.mixed);
        } else {
          for (let j = 0; j < terms.length; j++) term(j, cached ? j : 0, ACCUMULATE.sum);
          for (let j = 0; j < terms.length; j++) {
            if (!cached) term(j, 0, ACCUMULATE.none);
            kernel.recipeInclude(cached ? j : 0, n, settings[j]!.weight);
          }
        }
        kernel.recipeFinish(targetCode, target, outCode, outAddress, n, normalize, divisor);
      }
      if (outAddress === region.out) out.set(heap.subarray(region.out, region.out + n * outWidth), start * outWidth);
    }
    return out;
  };
  return { mergeRecipeChunk, convertChunk };
}

const elementCount = (chunk: FloatChunk) => Math.floor(chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype]);

/**
 * The recipe kernel with its own memory (about 580 KiB, whatever the chunk size or the number of
 * terms): one per thread or worker. Needs WebAssembly SIMD; callers check with
 * WebAssembly.validate(mergeKernelWasmBytes()) first.
 */
export function createWasmRecipeKernel(): WasmRecipeKernel {
  const exports = instantiateWithOwnMemory() as unknown as RecipeExports & { memory: WebAssembly.Memory };
  return recipeDriver(exports, exports.memory);
}

let threadKernel: WasmRecipeKernel | null | undefined;

/**
 * This thread's recipe kernel, created on first use; null where the engine cannot run it (no
 * WebAssembly SIMD), and the JavaScript reference computes instead. Validating the module checks
 * every feature it uses.
 */
export function wasmRecipeKernelHere(): WasmRecipeKernel | null {
  threadKernel ??= WebAssembly.validate(mergeKernelWasmBytes()) ? createWasmRecipeKernel() : null;
  return threadKernel;
}

/**
 * The kernel instantiated over `memory`, a shared WebAssembly memory (up to 65536 pages), grown to
 * dataStart if smaller: one instance per memory, as its scratch lies at the memory's start, and
 * callers keep their data at dataStart and above. `liesInMemory` tells which byte arrays view the
 * memory (an owner that tracks every buffer the memory handed out, as WasmChunkArena does); by
 * default, those that view a buffer the memory had at a call of mergeRecipeChunk, which misses
 * arrays made on a buffer replaced by a grow in between (they are copied, with the same result).
 * Undefined where the engine lacks WebAssembly threads (shared memories) or SIMD.
 */
export function instantiateSharedMemoryRecipeKernel(
  memory: WebAssembly.Memory,
  liesInMemory?: (bytes: Uint8Array) => boolean,
): SharedMemoryRecipeKernel | undefined {
  const exports = instantiateOverSharedMemory(memory) as RecipeExports | undefined;
  if (!exports) return undefined;
  return {
    dataStart: exports.dataStart.value as number,
    merge: exports.merge,
    convert: exports.convert,
    ...recipeDriver(exports, memory, liesInMemory),
  };
}
