/**
 * The npm package `webgpu` (Dawn for Node, dawn-gpu/node-webgpu), which is not a dependency of the
 * project: scripts/pack-device.ts fetches it and bundles it into the device harness. Its own
 * types.d.ts declares the same two exports.
 */
declare module "webgpu" {
  /** A navigator.gpu for Node; options are Dawn's flags, e.g. "backend=vulkan". */
  export function create(options: string[]): GPU;
  /** The WebGPU interface objects and enums (GPUBufferUsage, GPUMapMode, ...) to put on globalThis. */
  export const globals: Record<string, unknown>;
}
