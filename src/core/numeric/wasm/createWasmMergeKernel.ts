import type { FloatDtype } from "../../dtypes.ts";
import type { FloatChunk } from "../../engine/mergeChunk.ts";
import { MERGE_KERNEL_SHARED_MEMORY_WASM_BASE64, MERGE_KERNEL_WASM_BASE64 } from "./mergeKernelWasm.ts";

/** The WebAssembly SIMD merge kernel; same bytes as mergeChunk / convertChunk (src/core/engine/mergeChunk.ts). */
export interface WasmMergeKernel {
  /** mergeChunk for task arithmetic: target + alpha * (plus - minus), rounded to outDtype. */
  mergeChunkWasm(alpha: number, target: FloatChunk, plus: FloatChunk, minus: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): Uint8Array;
  /** convertChunk: widens input exactly and rounds it to outDtype. */
  convertChunkWasm(input: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): Uint8Array;
}

interface KernelExports {
  memory: WebAssembly.Memory;
  dataStart: WebAssembly.Global;
  merge(tType: number, t: number, pType: number, p: number, mType: number, m: number, outType: number, out: number, n: number, alpha: number): void;
  convert(inType: number, input: number, outType: number, out: number, n: number): void;
}

/** Dtype codes of mergeKernel.wat. */
export const DTYPE_CODE: Record<FloatDtype, number> = { BF16: 0, F16: 1, F32: 2 };
const WIDTH: Record<FloatDtype, number> = { BF16: 2, F16: 2, F32: 4 };

/**
 * Elements staged in wasm memory per kernel call. Chunks pass through in stages rather than being
 * copied in whole, so the copies in and out stay in cache and the memory stays small (about 256
 * KiB) whatever the chunk size. A multiple of 4, as the kernel works on 4 elements at a time.
 */
const STAGE = 16384;
const REGION_BYTES = STAGE * 4;

let kernelModule: WebAssembly.Module | undefined;
let sharedMemoryKernelModule: WebAssembly.Module | undefined;

const decodeBase64 = (base64: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));

/** The kernel's binary, decoded; atob exists in Node, browsers and workers alike. */
export function mergeKernelWasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(MERGE_KERNEL_WASM_BASE64);
}

/** The kernel's raw entry points over a memory the caller owns: addresses are byte offsets into it. */
export interface SharedMemoryMergeKernel {
  /** First byte the caller may use; the kernel's scratch blocks lie below. */
  dataStart: number;
  merge(tType: number, t: number, pType: number, p: number, mType: number, m: number, outType: number, out: number, n: number, alpha: number): void;
  convert(inType: number, input: number, outType: number, out: number, n: number): void;
}

/**
 * The kernel instantiated over `memory`, a shared WebAssembly memory (up to 65536 pages): one
 * instance per memory, as its scratch blocks lie at the memory's start. Undefined where the engine
 * lacks WebAssembly threads (shared memories) or SIMD.
 */
export function instantiateSharedMemoryMergeKernel(memory: WebAssembly.Memory): SharedMemoryMergeKernel | undefined {
  const exports = instantiateOverSharedMemory(memory) as Omit<KernelExports, "memory"> | undefined;
  return exports && { dataStart: exports.dataStart.value as number, merge: exports.merge, convert: exports.convert };
}

/**
 * The exports of the kernel module (merge, convert and the recipe entry points) instantiated over
 * a shared memory; undefined where the engine lacks WebAssembly threads or SIMD.
 */
export function instantiateOverSharedMemory(memory: WebAssembly.Memory): WebAssembly.Exports | undefined {
  if (!sharedMemoryKernelModule) {
    const bytes = decodeBase64(MERGE_KERNEL_SHARED_MEMORY_WASM_BASE64);
    if (!WebAssembly.validate(bytes)) return undefined;
    sharedMemoryKernelModule = new WebAssembly.Module(bytes);
  }
  return new WebAssembly.Instance(sharedMemoryKernelModule, { env: { memory } }).exports;
}

/** The kernel module with its own memory, instantiated; the module is compiled once per thread. */
export function instantiateWithOwnMemory(): WebAssembly.Exports {
  kernelModule ??= new WebAssembly.Module(mergeKernelWasmBytes());
  return new WebAssembly.Instance(kernelModule).exports;
}

/** `into`'s first `length` bytes when it is large enough, else a new array. */
export const outputBytes = (length: number, into: Uint8Array | undefined) =>
  into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);

const elementCount = (chunk: FloatChunk) => Math.floor(chunk.bytes.byteLength / WIDTH[chunk.dtype]);

/**
 * Instantiates the kernel synchronously (the module is compiled once per thread). Each instance
 * owns its memory: use one per thread or worker. Needs WebAssembly SIMD; callers check with
 * WebAssembly.validate(mergeKernelWasmBytes()) first.
 */
export function createWasmMergeKernel(): WasmMergeKernel {
  const kernel = instantiateWithOwnMemory() as unknown as KernelExports;
  const dataStart = kernel.dataStart.value as number;
  const regions = { t: dataStart, p: dataStart + REGION_BYTES, m: dataStart + 2 * REGION_BYTES, out: dataStart + 3 * REGION_BYTES };
  const needed = regions.out + REGION_BYTES;
  kernel.memory.grow(Math.max(0, Math.ceil((needed - kernel.memory.buffer.byteLength) / 65536)));
  // Taken after the one grow: growing detaches the old buffer, and the memory never grows again.
  const heap = new Uint8Array(kernel.memory.buffer);

  const stageIn = (chunk: FloatChunk, region: number, start: number, n: number) => {
    const width = WIDTH[chunk.dtype];
    heap.set(chunk.bytes.subarray(start * width, (start + n) * width), region);
  };

  return {
    mergeChunkWasm(alpha, target, plus, minus, outDtype, into) {
      const count = elementCount(target);
      if (elementCount(plus) !== count || elementCount(minus) !== count) {
        throw new Error(
          `internal: chunk sizes differ (target ${count}, plus ${elementCount(plus)}, minus ${elementCount(minus)} elements)`,
        );
      }
      const outWidth = WIDTH[outDtype];
      const out = outputBytes(count * outWidth, into);
      for (let start = 0; start < count; start += STAGE) {
        const n = Math.min(STAGE, count - start);
        stageIn(target, regions.t, start, n);
        stageIn(plus, regions.p, start, n);
        stageIn(minus, regions.m, start, n);
        kernel.merge(
          DTYPE_CODE[target.dtype], regions.t,
          DTYPE_CODE[plus.dtype], regions.p,
          DTYPE_CODE[minus.dtype], regions.m,
          DTYPE_CODE[outDtype], regions.out,
          n, alpha,
        );
        out.set(heap.subarray(regions.out, regions.out + n * outWidth), start * outWidth);
      }
      return out;
    },

    convertChunkWasm(input, outDtype, into) {
      const count = elementCount(input);
      const outWidth = WIDTH[outDtype];
      const out = outputBytes(count * outWidth, into);
      for (let start = 0; start < count; start += STAGE) {
        const n = Math.min(STAGE, count - start);
        stageIn(input, regions.t, start, n);
        kernel.convert(DTYPE_CODE[input.dtype], regions.t, DTYPE_CODE[outDtype], regions.out, n);
        out.set(heap.subarray(regions.out, regions.out + n * outWidth), start * outWidth);
      }
      return out;
    },
  };
}
