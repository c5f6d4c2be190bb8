import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fileSystemError } from "../../core/node/fileSystemError.ts";
import type { ExternalDataLocation } from "../onnx/encodeOnnxModel.ts";
import type { ExternalDataFileLayout, ExternalDataWriter } from "../onnx/OnnxGraphBuilder.ts";

/**
 * Writes a model's external data files into a folder as OnnxGraphBuilder produces them: each weight
 * group is filled into buffers of its own size and written at its offsets, so only one group is
 * in memory at a time. The files are created new (an existing file is an error); `close` closes
 * them, whatever happened before.
 */
export class OnnxFolderWriter implements ExternalDataWriter {
  private readonly handles = new Map<string, FileHandle>();
  /** Bytes of all files together (the model's weights, alignment padding included). */
  totalBytes = 0;

  constructor(private readonly dir: string) {}

  async create(files: readonly ExternalDataFileLayout[]): Promise<void> {
    for (const file of files) {
      const path = join(this.dir, file.path);
      try {
        const handle = await open(path, "wx");
        this.handles.set(file.path, handle);
        await handle.truncate(file.size);
      } catch (error) {
        throw fileSystemError(error, path, "create the external data file");
      }
      this.totalBytes += file.size;
    }
  }

  buffers(locations: readonly ExternalDataLocation[]): Uint8Array[] {
    return locations.map((location) => new Uint8Array(location.length));
  }

  async store(locations: readonly ExternalDataLocation[], buffers: readonly Uint8Array[]): Promise<void> {
    for (const [index, { location, offset, length }] of locations.entries()) {
      const handle = this.handles.get(location)!;
      try {
        for (let done = 0; done < length; ) {
          const { bytesWritten } = await handle.write(buffers[index]!, done, length - done, offset + done);
          done += bytesWritten;
        }
      } catch (error) {
        throw fileSystemError(error, join(this.dir, location), "write to");
      }
    }
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map((handle) => handle.close()));
  }
}
