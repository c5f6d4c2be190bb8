import { DTYPE_BYTES } from "../../dtypes.ts";
import type { FloatChunk } from "../../engine/mergeChunk.ts";
import { DTYPE_CODE, instantiateWithOwnMemory, mergeKernelWasmBytes } from "./wasmKernelModule.ts";

/** Bins of a counter's histogram: one per value of 16 bits of an order key. */
export const KEY_HISTOGRAM_BINS = 65536;

/**
 * The counting loops of the magnitude statistics pass (src/core/recipe/magnitudeStatistics.ts) in
 * WebAssembly SIMD: the order keys of v = fl32(plus - minus) (magnitudeOrderKey) are computed and
 * counted in the kernel, never handed to JavaScript. Counts are uint32: callers use it for tensors
 * of fewer than 2^32 elements.
 */
export interface WasmMagnitudeCounter {
  /** The counter's histograms of KEY_HISTOGRAM_BINS counts, zeroed when made; views of its memory. */
  readonly histograms: readonly Uint32Array[];
  /** histograms[histogram][key >>> 16] += 1 for the keys of elements start .. start + count - 1. */
  countHigh(plus: FloatChunk, minus: FloatChunk, start: number, count: number, histogram: number): void;
  /** histograms[histogram][key & 0xffff] += 1 for those keys whose high 16 bits are highBin. */
  countLow(plus: FloatChunk, minus: FloatChunk, start: number, count: number, highBin: number, histogram: number): void;
  /**
   * Among elements start .. start + count - 1: the offset from start of the need-th (need >= 1)
   * whose key equals pattern, or, when fewer are, -1 - how many are.
   */
  findTie(plus: FloatChunk, minus: FloatChunk, start: number, count: number, pattern: number, need: number): number;
}

interface CounterExports {
  memory: WebAssembly.Memory;
  dataStart: WebAssembly.Global;
  recipeStaging: WebAssembly.Global;
  stagingElements: WebAssembly.Global;
  keyHistogramHigh(pType: number, p: number, mType: number, m: number, n: number, histogram: number): void;
  keyHistogramLow(pType: number, p: number, mType: number, m: number, n: number, highBin: number, histogram: number): void;
  keyTie(pType: number, p: number, mType: number, m: number, n: number, pattern: number, need: number): number;
}

let simdRuns: boolean | undefined;

/**
 * A counter with its own memory (about 580 KiB plus 256 KiB per histogram), or null where the
 * engine lacks WebAssembly SIMD (then the JavaScript loops of magnitudeStatistics.ts count).
 */
export function createWasmMagnitudeCounter(histogramCount: number): WasmMagnitudeCounter | null {
  simdRuns ??= WebAssembly.validate(mergeKernelWasmBytes());
  if (!simdRuns) return null;
  const kernel = instantiateWithOwnMemory() as unknown as CounterExports;
  const dataStart = kernel.dataStart.value as number;
  const histogramBytes = KEY_HISTOGRAM_BINS * 4;
  const needed = dataStart + histogramCount * histogramBytes;
  const { memory } = kernel;
  if (memory.buffer.byteLength < needed) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
  // The memory never grows after this, so these views stay valid.
  const heap = new Uint8Array(memory.buffer);
  const histograms = Array.from({ length: histogramCount }, (_, k) => new Uint32Array(memory.buffer, dataStart + k * histogramBytes, KEY_HISTOGRAM_BINS));
  const staging = kernel.recipeStaging.value as number;
  const stagingElements = kernel.stagingElements.value as number;
  const plusRegion = staging + stagingElements * 4;
  const minusRegion = staging + 2 * stagingElements * 4;

  /** Copies each piece of up to stagingElements elements into the staging and hands it to `count`; stops when it returns false. */
  const staged = (plus: FloatChunk, minus: FloatChunk, start: number, count: number, visit: (pieceStart: number, n: number) => boolean) => {
    const [plusWidth, minusWidth] = [DTYPE_BYTES[plus.dtype], DTYPE_BYTES[minus.dtype]];
    for (let done = 0; done < count; done += stagingElements) {
      const n = Math.min(stagingElements, count - done);
      const from = start + done;
      heap.set(plus.bytes.subarray(from * plusWidth, (from + n) * plusWidth), plusRegion);
      heap.set(minus.bytes.subarray(from * minusWidth, (from + n) * minusWidth), minusRegion);
      if (!visit(done, n)) return;
    }
  };
  const histogramAddress = (histogram: number) => {
    if (!(histogram >= 0 && histogram < histogramCount)) throw new Error(`internal: histogram ${histogram} of ${histogramCount}`);
    return dataStart + histogram * histogramBytes;
  };

  return {
    histograms,
    countHigh(plus, minus, start, count, histogram) {
      const at = histogramAddress(histogram);
      staged(plus, minus, start, count, (_, n) => {
        kernel.keyHistogramHigh(DTYPE_CODE[plus.dtype], plusRegion, DTYPE_CODE[minus.dtype], minusRegion, n, at);
        return true;
      });
    },
    countLow(plus, minus, start, count, highBin, histogram) {
      const at = histogramAddress(histogram);
      staged(plus, minus, start, count, (_, n) => {
        kernel.keyHistogramLow(DTYPE_CODE[plus.dtype], plusRegion, DTYPE_CODE[minus.dtype], minusRegion, n, highBin, at);
        return true;
      });
    },
    findTie(plus, minus, start, count, pattern, need) {
      let seen = 0;
      let found = -1;
      staged(plus, minus, start, count, (pieceStart, n) => {
        const result = kernel.keyTie(DTYPE_CODE[plus.dtype], plusRegion, DTYPE_CODE[minus.dtype], minusRegion, n, pattern | 0, need - seen);
        if (result >= 0) {
          found = pieceStart + result;
          return false;
        }
        seen += -1 - result;
        return true;
      });
      return found >= 0 ? found : -1 - seen;
    },
  };
}
