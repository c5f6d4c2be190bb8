/// <reference types="@webgpu/types" />

/**
 * How long one GPU operation may go without an answer before the GPU counts as stalled. A dispatch
 * covers a few million elements at most (a few hundred thousand on a software adapter): milliseconds
 * on a GPU, under a second on SwiftShader; compiling a kernel takes about a second on SwiftShader.
 * A minute without an answer is a GPU that stopped answering.
 */
export const GPU_STALL_MS = 60_000;

/** The GPU gave no answer in time: the device is neither lost nor answering. */
export class GpuStallError extends Error {}

/** The device was lost while an operation waited on it. */
export class GpuLostError extends Error {}

/** A promise that never settles: the `lost` of a device not opened yet. */
export const NOT_LOST: Promise<never> = new Promise<never>(() => undefined);

/** The loss of a device in words, as the notices show it. */
export function describeLoss(info: GPUDeviceLostInfo): string {
  return `the GPU device was lost (${info.message || info.reason})`;
}

/** Rejects with a GpuLostError when `device` is lost; never settles otherwise. Marked handled: awaitGpu races it. */
export function deviceLost(device: GPUDevice): Promise<never> {
  const lost = device.lost.then((info) => {
    throw new GpuLostError(describeLoss(info));
  });
  lost.catch(() => undefined);
  return lost;
}

/**
 * The answer of a GPU operation (`what`, e.g. "compiling the recipe kernel"), or a rejection when
 * the device is lost (`lost` rejects) or when no answer comes within `stallMs`. Every wait on the
 * GPU goes through here, so that a GPU that hangs, or a GPU process that dies without settling the
 * promises it was given, cannot hang a merge: it fails over to the CPU like a lost device.
 */
export async function awaitGpu<T>(answer: Promise<T>, what: string, lost: Promise<never>, stallMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GpuStallError(`the GPU gave no answer to ${what} in ${stallMs / 1000} s`)), stallMs);
  });
  try {
    return await Promise.race([answer, lost, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Maps the first `size` bytes of a read-back buffer for reading, once the GPU has written them
 * (awaitGpu). After a rejection the buffer is never read, so a late answer cannot write into output
 * that another backend computes meanwhile.
 */
export function mapForReading(buffer: GPUBuffer, size: number, lost: Promise<never>, stallMs: number): Promise<void> {
  return awaitGpu(buffer.mapAsync(GPUMapMode.READ, 0, size), "a read-back", lost, stallMs);
}
