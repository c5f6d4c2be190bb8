/// <reference types="@webgpu/types" />
import { create, globals } from "webgpu";

/** Dawn's navigator.gpu and the adapter it picks, described as the harness reports it. */
export interface DawnGpu {
  gpu: GPU;
  adapter: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter: boolean;
    shaderF16: boolean;
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
  };
}

/**
 * Dawn for Node (the npm package `webgpu`) as the browser's navigator.gpu: its interface globals on
 * globalThis (GPUBufferUsage, GPUMapMode, ... which the project's WebGPU code reads), and
 * `navigator.gpu` for onnxruntime-web, which looks there.
 *
 * dawn.node's GPUQueue.writeBuffer throws "Invalid argument" for a view of a SharedArrayBuffer,
 * which browsers accept and onnxruntime-web passes (its wasm memory is shared): such a write goes
 * through a copy into an ordinary ArrayBuffer. Nothing else is changed.
 */
export async function openDawnGpu(flags: string[] = []): Promise<DawnGpu> {
  Object.assign(globalThis, globals);
  const queue = (globals.GPUQueue as { prototype: GPUQueue }).prototype;
  const writeBuffer = queue.writeBuffer;
  queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: GPUSize64, data: GPUAllowSharedBufferSource, dataOffset?: GPUSize64, size?: GPUSize64) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const elementBytes = "BYTES_PER_ELEMENT" in data ? (data.BYTES_PER_ELEMENT as number) : 1;
      const firstByte = data.byteOffset + (dataOffset ?? 0) * elementBytes;
      const byteCount = size === undefined ? data.byteLength - (dataOffset ?? 0) * elementBytes : size * elementBytes;
      const copy = new Uint8Array(data.buffer, firstByte, byteCount).slice();
      return writeBuffer.call(this, buffer, offset, copy, 0, byteCount);
    }
    return writeBuffer.call(this, buffer, offset, data as BufferSource, dataOffset, size);
  };
  const gpu = create(flags);
  Object.defineProperty(globalThis, "navigator", { value: { gpu, hardwareConcurrency: 1, userAgent: "node" }, configurable: true });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("Dawn found no GPU adapter (is a Vulkan driver installed? VK_ICD_FILENAMES / VK_DRIVER_FILES name it)");
  const { info, limits } = adapter;
  return {
    gpu,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallbackAdapter: info.isFallbackAdapter === true,
      shaderF16: adapter.features.has("shader-f16"),
      maxBufferSize: limits.maxBufferSize,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    },
  };
}
