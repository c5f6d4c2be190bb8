import type { BuiltOnnxModel } from "./OnnxGraphBuilder.ts";

/**
 * Frees a built model's external data files at once. onnxruntime (node and web) copies them into its
 * own memory while it creates a session, after which they are garbage; the garbage collector may
 * keep them for minutes (measured: the 1.6 GB of a 1.5B model in q8 still held by Chromium while
 * decoding), which a model near the memory limit cannot afford. Where ArrayBuffer.prototype.transfer
 * exists (Chrome 114, Firefox 122, Safari 17.4, Node 21) each file's buffer is transferred to an empty
 * one, which detaches it and releases its memory now; elsewhere the files are only dropped.
 * `built.externalData` is emptied either way: the files must not be used again.
 */
export function releaseExternalData(built: Pick<BuiltOnnxModel, "externalData">): void {
  for (const file of built.externalData.splice(0)) {
    const buffer = file.data.buffer as ArrayBuffer & { transfer?: (newLength: number) => ArrayBuffer };
    buffer.transfer?.(0);
  }
}
