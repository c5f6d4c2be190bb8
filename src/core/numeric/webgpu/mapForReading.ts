/// <reference types="@webgpu/types" />

/**
 * How long a dispatch may go without a result before the GPU counts as stalled. A dispatch covers a
 * few million elements at most (a few hundred thousand on a software adapter): milliseconds on a GPU,
 * under a second on SwiftShader, so a minute without an answer is a GPU that stopped answering.
 */
export const GPU_STALL_MS = 60_000;

/** The GPU gave no result in time: the device is neither lost nor answering. */
export class GpuStallError extends Error {}

/**
 * Maps the first `size` bytes of a read-back buffer for reading, once the GPU has written them.
 * Rejects when the device is lost (`lost` rejects) or when no answer comes within `stallMs`: a GPU
 * that hangs must not hang the merge. After a rejection the buffer is never read, so a late answer
 * cannot write into output that another backend computes meanwhile.
 */
export async function mapForReading(buffer: GPUBuffer, size: number, lost: Promise<never>, stallMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GpuStallError(`the GPU gave no result in ${stallMs / 1000} s`)), stallMs);
  });
  try {
    await Promise.race([buffer.mapAsync(GPUMapMode.READ, 0, size), lost, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
