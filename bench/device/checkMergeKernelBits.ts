/// <reference types="@webgpu/types" />
import type { ChunkComputer } from "../../src/core/engine/ChunkComputer.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { oneTermTask } from "../../test/helpers/oneVectorRecipe.ts";
import { KERNEL_DTYPES, makeKernelTestInputs, ROUNDING_FAMILIES, type KernelDtype } from "../../e2e/kernelTestChunks.ts";

/** Alphas of every merge case: the copy (0), subtraction, identity, a subnormal-making and an overflowing factor, and an inexact one. */
export const CHECK_ALPHAS = [0, -1, 1, 1e-30, 3.4e38, 0.3];

/** Dtype mixes of the large random chunks: each dtype alone, and one mix where target, plus and minus all differ. */
const RANDOM_MIXES: Record<"t" | "p" | "m", KernelDtype>[] = [
  { t: "BF16", p: "BF16", m: "BF16" },
  { t: "F16", p: "F16", m: "F16" },
  { t: "F32", p: "F32", m: "F32" },
  { t: "BF16", p: "F16", m: "F32" },
];

export interface BitCheckSizes {
  /** Elements of each case of every dtype mix (27 x 3 outputs x alphas), from every element family of e2e/kernelTestChunks.ts. */
  specialElements: number;
  /** Elements of each large random chunk (the rounding families), more than one dispatch's 4 Mi. */
  randomElements: number;
  /** Elements of the float32 input that is converted to each dtype. */
  convertF32Elements: number;
}

/** One group of comparisons: GPU bytes against the JavaScript reference's. */
export interface BitCheckGroup {
  name: string;
  cases: number;
  /** Output elements compared, over all cases. */
  elements: number;
  /** Output elements whose bits differ, over all cases. */
  mismatchedElements: number;
  /** The first differing element of each differing case (at most 20 cases). */
  mismatches: string[];
  seconds: number;
}

const width = (dtype: KernelDtype) => (dtype === "F32" ? 4 : 2);
const hexAt = (bytes: Uint8Array, dtype: KernelDtype, index: number) => {
  let value = 0;
  for (let byte = width(dtype) - 1; byte >= 0; byte--) value = value * 256 + bytes[index * width(dtype) + byte]!;
  return `0x${value.toString(16).padStart(width(dtype) * 2, "0")}`;
};

/** Elements whose bits differ, and the first of them, or undefined when the bytes are equal. */
function compareElements(gpu: Uint8Array, reference: Uint8Array, dtype: KernelDtype): { count: number; first: number } | undefined {
  if (gpu.byteLength === reference.byteLength && Buffer.from(gpu.buffer, gpu.byteOffset, gpu.byteLength).equals(reference)) return undefined;
  if (gpu.byteLength !== reference.byteLength) return { count: reference.byteLength / width(dtype), first: -1 };
  const a = dtype === "F32" ? new Uint32Array(gpu.buffer, gpu.byteOffset, gpu.byteLength / 4) : new Uint16Array(gpu.buffer, gpu.byteOffset, gpu.byteLength / 2);
  const b = dtype === "F32" ? new Uint32Array(reference.buffer, reference.byteOffset, reference.byteLength / 4) : new Uint16Array(reference.buffer, reference.byteOffset, reference.byteLength / 2);
  let count = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}

/** Collects the cases of one group; a case runs on the GPU while the reference computes on this thread. */
class GroupRecorder {
  private readonly group: BitCheckGroup;
  private readonly started = performance.now();

  constructor(name: string) {
    this.group = { name, cases: 0, elements: 0, mismatchedElements: 0, mismatches: [], seconds: 0 };
  }

  async merge(computer: ChunkComputer, target: FloatChunk, plus: FloatChunk, minus: FloatChunk, alpha: number, outDtype: KernelDtype): Promise<void> {
    const onGpu = computer.compute(oneTermTask(alpha, target, plus, minus, outDtype));
    const reference = mergeChunk(alpha, target, plus, minus, outDtype);
    const gpu = await onGpu;
    this.record(gpu, reference, outDtype, (index) => {
      const inputs = [target, plus, minus].map((chunk) => hexAt(chunk.bytes, chunk.dtype as KernelDtype, index)).join(", ");
      return `${target.dtype} + ${alpha} * (${plus.dtype} - ${minus.dtype}) -> ${outDtype}: element ${index} of (${inputs})`;
    });
  }

  async convert(computer: ChunkComputer, input: FloatChunk, outDtype: KernelDtype): Promise<void> {
    const onGpu = computer.compute({ kind: "convert", input, outDtype });
    const reference = convertChunk(input, outDtype);
    const gpu = await onGpu;
    this.record(gpu, reference, outDtype, (index) => `convert ${input.dtype} -> ${outDtype}: element ${index} of ${hexAt(input.bytes, input.dtype as KernelDtype, index)}`);
  }

  private record(gpu: Uint8Array, reference: Uint8Array, outDtype: KernelDtype, describe: (index: number) => string): void {
    this.group.cases++;
    this.group.elements += reference.byteLength / width(outDtype);
    const difference = compareElements(gpu, reference, outDtype);
    if (!difference) return;
    this.group.mismatchedElements += difference.count;
    if (this.group.mismatches.length >= 20) return;
    this.group.mismatches.push(
      difference.first < 0
        ? `${describe(0)}: the GPU gave ${gpu.byteLength} bytes, the reference ${reference.byteLength}`
        : `${describe(difference.first)} gave ${hexAt(gpu, outDtype, difference.first)}, expected ${hexAt(reference, outDtype, difference.first)} (${difference.count} elements differ)`,
    );
  }

  done(): BitCheckGroup {
    return { ...this.group, seconds: (performance.now() - this.started) / 1000 };
  }
}

const chunkOf = (dtype: KernelDtype, bytes: Uint8Array): FloatChunk => ({ dtype, bytes });

/** Every target, plus and minus dtype, every output dtype and every alpha, on chunks that hold every element family. */
export async function checkEveryDtypeMix(computer: ChunkComputer, elements: number): Promise<BitCheckGroup> {
  const recorder = new GroupRecorder(`every dtype mix (27 x 3 outputs x ${CHECK_ALPHAS.length} alphas), special values, ${elements} elements each`);
  let seed = 1;
  for (const t of KERNEL_DTYPES) {
    for (const p of KERNEL_DTYPES) {
      for (const m of KERNEL_DTYPES) {
        const inputs = makeKernelTestInputs({ t, p, m }, elements, seed++);
        for (const outDtype of KERNEL_DTYPES) {
          for (const alpha of CHECK_ALPHAS) {
            await recorder.merge(computer, chunkOf(t, inputs.target), chunkOf(p, inputs.plus), chunkOf(m, inputs.minus), alpha, outDtype);
          }
        }
      }
    }
  }
  return recorder.done();
}

/** Every 16-bit pattern of BF16 and F16, and a float32 chunk of every family, converted to each dtype. */
export async function checkConversions(computer: ChunkComputer, f32Elements: number): Promise<BitCheckGroup> {
  const recorder = new GroupRecorder(`conversions: every BF16 and F16 pattern, ${f32Elements} F32 values, to each dtype`);
  const every16 = new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer);
  const f32 = makeKernelTestInputs({ t: "F32", p: "F32", m: "F32" }, f32Elements, 7).target;
  for (const [dtype, bytes] of [["BF16", every16], ["F16", every16], ["F32", f32]] as const) {
    for (const outDtype of KERNEL_DTYPES) await recorder.convert(computer, chunkOf(dtype, bytes), outDtype);
  }
  return recorder.done();
}

/** Large chunks (more than one dispatch) of the rounding families, five dtype mixes, every output and alpha. */
export async function checkLargeRandomChunks(computer: ChunkComputer, elements: number): Promise<BitCheckGroup> {
  const recorder = new GroupRecorder(`large random chunks: ${RANDOM_MIXES.length} dtype mixes x 3 outputs x ${CHECK_ALPHAS.length} alphas, ${elements} elements each`);
  for (const [index, mix] of RANDOM_MIXES.entries()) {
    const inputs = makeKernelTestInputs(mix, elements, 5000 + index, ROUNDING_FAMILIES);
    for (const outDtype of KERNEL_DTYPES) {
      for (const alpha of CHECK_ALPHAS) {
        await recorder.merge(computer, chunkOf(mix.t, inputs.target), chunkOf(mix.p, inputs.plus), chunkOf(mix.m, inputs.minus), alpha, outDtype);
      }
    }
  }
  return recorder.done();
}
