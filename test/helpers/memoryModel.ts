import { createHash } from "node:crypto";
import type { FolderSink } from "../../src/core/sinks/FolderSink.ts";
import type { ModelSource } from "../../src/core/sources/ModelSource.ts";

/** A model folder held in memory, as a ModelSource (for in-process tests of readers and plans). */
export function memorySource(label: string, files: ReadonlyMap<string, Uint8Array>): ModelSource {
  return {
    label,
    listFiles: async () => [...files].map(([path, bytes]) => ({ path, size: bytes.byteLength })).sort((a, b) => (a.path < b.path ? -1 : 1)),
    read: async (path, offset, length) => {
      const bytes = files.get(path);
      if (!bytes) throw new Error(`${label}: ${path}: no such file`);
      if (offset + length > bytes.byteLength) throw new Error(`${label}: ${path}: wanted bytes ${offset}..${offset + length} but the file ends at ${bytes.byteLength}`);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A FolderSink that keeps the files it is given in `files` once committed. */
export function memorySink(): FolderSink & { files: Map<string, Uint8Array>; committed: boolean } {
  const pending = new Map<string, Uint8Array>();
  const sink = {
    files: new Map<string, Uint8Array>(),
    committed: false,
    async createFile(path: string) {
      const parts: Uint8Array[] = [];
      return {
        write: async (bytes: Uint8Array) => void parts.push(bytes.slice()),
        close: async () => {
          const whole = Buffer.concat(parts);
          pending.set(path, whole);
          return { size: whole.byteLength, sha256: createHash("sha256").update(whole).digest("hex") };
        },
      };
    },
    async commit() {
      for (const [path, bytes] of pending) sink.files.set(path, bytes);
      sink.committed = true;
      return "memory";
    },
    async abort() {
      pending.clear();
    },
  };
  return sink;
}
