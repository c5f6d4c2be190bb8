import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import { instantiateSharedMemoryRecipeKernel, type SharedMemoryRecipeKernel } from "../numeric/wasm/createWasmRecipeKernel.ts";
import { DTYPE_CODE } from "../numeric/wasm/wasmKernelModule.ts";
import { ChunkBufferPool, type ChunkBuffers } from "./ChunkBufferPool.ts";
import { computeChunkHere, inThreadComputer, mergeSegments, type ChunkComputer, type ChunkTask } from "./ChunkComputer.ts";
import type { FloatChunk } from "./mergeChunk.ts";

/** Chunk buffers and the computer that works on them, chosen together. */
export interface ChunkMemory {
  buffers: ChunkBuffers;
  computer: ChunkComputer;
}

const PAGE_BYTES = 65536;
/** 4 GiB: the most a wasm32 memory addresses. */
const MAX_PAGES = 65536;
/** The kernel's convert reads and writes up to 7 elements (28 bytes) past a chunk's end: each slot has room for them. */
const SLOT_SLACK_BYTES = 64;

/**
 * Chunk buffers that live inside one shared WebAssembly memory, with the recipe kernel instantiated
 * over that memory (instantiateSharedMemoryRecipeKernel): reads land where the kernel computes, the
 * kernel writes its result into another slot of the same memory, and other threads (Node's hash worker) read the slots where they lie, as
 * the memory's buffer is a SharedArrayBuffer. The in-thread kernel (computeChunkHere) instead copies
 * every chunk into its own memory and the result out of it: 4 bytes copied per byte written, about
 * 0.4 s of a 0.5B bf16 merge's 2 s on the bench machine.
 *
 * Slots are `capacity` bytes (plus the kernel's slack), allocated by growing the memory and reused
 * once given back; the memory never shrinks, so it holds as many slots as were ever in use at once.
 * Growing a shared memory keeps every earlier view valid (its SharedArrayBuffer is never detached).
 */
export class WasmChunkArena implements ChunkBuffers, ChunkComputer {
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: SharedMemoryRecipeKernel;
  private readonly slotBytes: number;
  /** Every SharedArrayBuffer the memory has handed out (one per size it grew to). */
  private readonly generations: WeakSet<ArrayBufferLike>;
  private readonly freeSlots = new Set<number>();
  private slotCount = 0;

  private constructor(
    readonly capacity: number,
    memory: WebAssembly.Memory,
    kernel: SharedMemoryRecipeKernel,
    generations: WeakSet<ArrayBufferLike>,
  ) {
    this.memory = memory;
    this.kernel = kernel;
    this.generations = generations;
    this.slotBytes = Math.ceil((capacity + SLOT_SLACK_BYTES) / PAGE_BYTES) * PAGE_BYTES;
    this.generations.add(memory.buffer);
  }

  /** An arena for chunks of up to `capacity` bytes; undefined where the engine has no shared WebAssembly memory or SIMD. */
  static create(capacity: number): WasmChunkArena | undefined {
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    } catch {
      return undefined;
    }
    // The kernel reads in place every view of the memory, made before a grow or after.
    const generations = new WeakSet<ArrayBufferLike>();
    const kernel = instantiateSharedMemoryRecipeKernel(memory, (bytes) => generations.has(bytes.buffer));
    return kernel && new WasmChunkArena(capacity, memory, kernel, generations);
  }

  take(length: number): Uint8Array {
    if (length > this.capacity) return new Uint8Array(length);
    let slot: number | undefined = this.freeSlots.values().next().value;
    if (slot === undefined) slot = this.addSlot();
    else this.freeSlots.delete(slot);
    return new Uint8Array(this.memory.buffer, this.slotStart(slot), length);
  }

  give(bytes: Uint8Array): void {
    const slot = this.slotOf(bytes);
    if (slot !== undefined) this.freeSlots.add(slot);
  }

  async compute(task: ChunkTask): Promise<Uint8Array> {
    if (task.kind === "merge") return mergeSegments(task, this.kernel);
    return this.convertInPlace(task) ?? computeChunkHere(task);
  }

  /**
   * A conversion computed where its chunks lie; undefined when either lies outside the arena's
   * slots (whose slack takes what the kernel writes past a chunk's end).
   */
  private convertInPlace(task: Extract<ChunkTask, { kind: "convert" }>): Uint8Array | undefined {
    const { into, input } = task;
    if (!into || !this.holds(into) || !this.holds(input.bytes)) return undefined;
    const count = elementCount(input);
    const out = fit(into, count, task.outDtype);
    if (!out) return undefined;
    this.kernel.convert(DTYPE_CODE[input.dtype], input.bytes.byteOffset, DTYPE_CODE[task.outDtype], out.byteOffset, count);
    return out;
  }

  /** True when `bytes` starts at one of the arena's slots: then the slot's slack follows its end. */
  private holds(bytes: Uint8Array): boolean {
    return this.slotOf(bytes) !== undefined;
  }

  private slotOf(bytes: Uint8Array): number | undefined {
    if (!this.generations.has(bytes.buffer)) return undefined;
    const offset = bytes.byteOffset - this.kernel.dataStart;
    const slot = offset / this.slotBytes;
    return Number.isInteger(slot) && slot >= 0 && slot < this.slotCount && bytes.byteLength <= this.capacity ? slot : undefined;
  }

  private slotStart(slot: number): number {
    return this.kernel.dataStart + slot * this.slotBytes;
  }

  private addSlot(): number {
    const slot = this.slotCount;
    const end = this.slotStart(slot) + this.slotBytes;
    const pages = Math.ceil(end / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) {
      try {
        this.memory.grow(pages);
      } catch {
        throw new Error(`cannot grow the merge's chunk memory to ${slot + 1} chunks of ${this.capacity} bytes (a wasm32 memory holds at most 4 GiB)`);
      }
      this.generations.add(this.memory.buffer);
    }
    this.slotCount++;
    return slot;
  }
}

const elementCount = (chunk: FloatChunk) => Math.floor(chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype]);

/** The first `count` elements of `into` as `dtype`, if it has room for them. */
function fit(into: Uint8Array, count: number, dtype: FloatDtype): Uint8Array | undefined {
  const length = count * DTYPE_BYTES[dtype];
  return into.byteLength >= length ? into.subarray(0, length) : undefined;
}

/**
 * Chunk memory for a merge whose sink reads chunks on other threads (Node's hash worker): a
 * WasmChunkArena where the engine has shared WebAssembly memories, else a pool of
 * SharedArrayBuffers computed on by the in-thread kernel.
 */
export function sharedChunkMemory(capacity: number): ChunkMemory {
  const arena = WasmChunkArena.create(capacity);
  return arena ? { buffers: arena, computer: arena } : { buffers: new ChunkBufferPool(capacity, { shared: true }), computer: inThreadComputer };
}
