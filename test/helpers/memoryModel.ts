import { createHash } from "node:crypto";
import { ResumeError, type FileSink, type FolderSink, type WrittenFile } from "../../src/core/sinks/FolderSink.ts";
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

const written = (bytes: Uint8Array) => ({ size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") });

/** A FolderSink that keeps the files it is given in `files` once committed (its journal in memory too). */
export function memorySink(): FolderSink & { files: Map<string, Uint8Array>; committed: boolean } {
  const pending = new Map<string, Uint8Array>();
  let journal: string | undefined;
  const fileSink = (path: string, parts: Uint8Array[]): FileSink => ({
    write: async (bytes) => void parts.push(bytes.slice()),
    checkpoint: async () => written(Buffer.concat(parts)),
    close: async () => {
      const whole = Buffer.concat(parts);
      pending.set(path, whole);
      return written(whole);
    },
  });
  const sink = {
    files: new Map<string, Uint8Array>(),
    committed: false,
    createFile: async (path: string) => fileSink(path, []),
    async reopenFile(path: string, prefix: WrittenFile) {
      const bytes = (pending.get(path) ?? new Uint8Array(0)).subarray(0, prefix.size);
      if (written(bytes).sha256 !== prefix.sha256) throw new ResumeError(`${path} changed`);
      return fileSink(path, [bytes]);
    },
    async verifyFile(path: string, expected: WrittenFile) {
      const bytes = pending.get(path);
      if (!bytes || written(bytes).sha256 !== expected.sha256) throw new ResumeError(`${path} changed`);
    },
    readJournal: async () => journal,
    writeJournal: async (text: string) => void (journal = text),
    keep: async () => {},
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
