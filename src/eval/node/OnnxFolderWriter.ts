import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fileSystemError } from "../../core/node/fileSystemError.ts";
import type { ExternalDataLocation } from "../onnx/encodeOnnxModel.ts";
import type { ExternalDataFileLayout, ExternalDataWriter } from "../onnx/OnnxGraphBuilder.ts";

/**
 * Writes a model's external data files into a folder as OnnxGraphBuilder produces them: each weight
 * group is filled into buffers of its own size and written at its offsets while the next group is
 * produced, so at most two groups are in memory at a time. The files are created new (an existing
 * file is an error); `close` finishes the writes and closes them, whatever happened before.
 */
export class OnnxFolderWriter implements ExternalDataWriter {
  private readonly handles = new Map<string, FileHandle>();
  /** The write of the last stored group. */
  private writing: Promise<void> = Promise.resolve();
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

  /**
   * Starts writing the group and returns once the previous group is written: the disk writes one
   * group while the next is produced, and at most two groups are in memory.
   */
  async store(locations: readonly ExternalDataLocation[], buffers: readonly Uint8Array[]): Promise<void> {
    const previous = this.writing;
    this.writing = previous.then(() => this.write(locations, buffers));
    // A failure is reported by the next store or by close, whichever comes first; none goes unheard.
    this.writing.catch(() => {});
    await previous;
  }

  private async write(locations: readonly ExternalDataLocation[], buffers: readonly Uint8Array[]): Promise<void> {
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

  /** Waits for the last group's write, then closes the files (also when a write failed, whose error it throws). */
  async close(): Promise<void> {
    try {
      await this.writing;
    } finally {
      const handles = [...this.handles.values()];
      this.handles.clear();
      await Promise.all(handles.map((handle) => handle.close()));
    }
  }
}
