import { MERGE_KERNEL_SHARED_MEMORY_WASM_BASE64, MERGE_KERNEL_WASM_BASE64 } from "./mergeKernelWasm.ts";
import type { FloatDtype } from "../../dtypes.ts";

/**
 * The WebAssembly SIMD kernel module (mergeKernel.wat, compiled into mergeKernelWasm.ts) and how it
 * is instantiated: with its own memory, or over a shared memory the caller owns.
 * createWasmRecipeKernel.ts drives it.
 */

/** Dtype codes of mergeKernel.wat. */
export const DTYPE_CODE: Record<FloatDtype, number> = { BF16: 0, F16: 1, F32: 2 };

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
  /** One-term task arithmetic t + alpha * (p - m) of n elements, in whole groups of 8 (it writes up to 7 past n). */
  merge(tType: number, t: number, pType: number, p: number, mType: number, m: number, outType: number, out: number, n: number, alpha: number): void;
  /** Widens n elements and rounds them to outType, in whole groups of 8 (it writes up to 7 past n). */
  convert(inType: number, input: number, outType: number, out: number, n: number): void;
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
