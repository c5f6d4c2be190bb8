import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { JOURNAL_FILE_NAME, ResumeError, type FileSink, type FolderSink, type WrittenFile } from "../sinks/FolderSink.ts";
import { startSha256Worker, type IncrementalSha256 } from "./startSha256Worker.ts";

/** Bytes read at a time when re-hashing a file of an interrupted merge. */
const VERIFY_CHUNK_BYTES = 8 * 2 ** 20;

/**
 * Writes into `OUT.partial/` and renames it to `OUT/` on commit, so an interrupted merge never
 * leaves a folder that looks complete. An existing OUT is refused unless `force`. An existing
 * OUT.partial is removed, unless `keepPartial` (to resume the merge it holds). SHA-256 is computed on
 * a worker thread while the bytes are written (startSha256Worker): give it chunks in
 * SharedArrayBuffers and it hashes them where they lie.
 */
export async function openNodeFolderSink(outDir: string, options: { force?: boolean; keepPartial?: boolean } = {}): Promise<FolderSink> {
  const exists = await stat(outDir).then(() => true, () => false);
  if (exists && !options.force) {
    throw new Error(`${outDir} already exists; choose another output folder or pass --force to replace it`);
  }
  const partial = `${outDir}.partial`;
  if (!options.keepPartial) await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  const journalPath = join(partial, JOURNAL_FILE_NAME);
  const openFiles = new Set<{ close(): Promise<WrittenFile> }>();
  const hasher = startSha256Worker();

  const appendTo = (handle: FileHandle, hash: IncrementalSha256, size: number): FileSink => {
    let durable: Promise<unknown> = Promise.resolve();
    const sink: FileSink = {
      async write(bytes) {
        // Hashing and writing run at once, on other threads; the bytes are reusable when both end.
        const hashed = hash.update(bytes);
        let done = 0;
        try {
          while (done < bytes.byteLength) {
            const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, size + done);
            done += bytesWritten;
          }
        } finally {
          await hashed;
        }
        size += bytes.byteLength;
      },
      checkpoint() {
        // Taken now: the worker hashes in order, so the snapshot covers exactly the bytes written so far.
        const written = size;
        const snapshot = hash.snapshot().then((sha256) => ({ size: written, sha256 }));
        const synced = Promise.all([durable.then(() => handle.datasync()), snapshot]).then(([, taken]) => taken);
        durable = synced.catch(() => undefined);
        return synced;
      },
      async close() {
        openFiles.delete(sink);
        await durable;
        await handle.close();
        return { size, sha256: await hash.digest() };
      },
    };
    openFiles.add(sink);
    return sink;
  };

  /** Hashes the first `length` bytes of a file of the partial folder; refuses a file shorter than that. */
  const hashPrefix = async (path: string, handle: FileHandle, length: number): Promise<{ hash: IncrementalSha256; fileSize: number }> => {
    const { size: fileSize } = await handle.stat();
    if (fileSize < length) throw new ResumeError(`${join(partial, path)} has ${fileSize} bytes, fewer than the ${length} recorded in the journal: it was changed since`);
    const hash = hasher.create();
    const buffer = new Uint8Array(new SharedArrayBuffer(Math.min(VERIFY_CHUNK_BYTES, Math.max(1, length))));
    for (let offset = 0; offset < length; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, length - offset), offset);
      if (bytesRead === 0) throw new ResumeError(`${join(partial, path)} ended at byte ${offset} while being verified`);
      await hash.update(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
    return { hash, fileSize };
  };
  const changed = (path: string, what: string) =>
    new ResumeError(`${join(partial, path)}: ${what} do not match the SHA-256 recorded in the journal when they were written: the file was changed or corrupted since`);

  return {
    async createFile(path) {
      const full = join(partial, path);
      await mkdir(dirname(full), { recursive: true });
      return appendTo(await open(full, "w"), hasher.create(), 0);
    },
    async reopenFile(path, prefix) {
      const handle = await open(join(partial, path), "r+");
      try {
        const { hash } = await hashPrefix(path, handle, prefix.size);
        if ((await hash.snapshot()) !== prefix.sha256) throw changed(path, `its first ${prefix.size} bytes`);
        await handle.truncate(prefix.size);
        return appendTo(handle, hash, prefix.size);
      } catch (error) {
        await handle.close();
        throw error;
      }
    },
    async verifyFile(path, expected) {
      const handle = await open(join(partial, path), "r").catch(() => {
        throw new ResumeError(`${join(partial, path)} is missing: the journal records it as finished`);
      });
      try {
        const { hash, fileSize } = await hashPrefix(path, handle, expected.size);
        if (fileSize !== expected.size) throw new ResumeError(`${join(partial, path)} has ${fileSize} bytes, not the ${expected.size} recorded in the journal: it was changed since`);
        if ((await hash.digest()) !== expected.sha256) throw changed(path, "its bytes");
      } finally {
        await handle.close();
      }
    },
    async readJournal() {
      return readFile(journalPath, "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return undefined;
        throw error;
      });
    },
    async writeJournal(text) {
      const temporary = `${journalPath}.tmp`;
      const handle = await open(temporary, "w");
      try {
        await writeFile(handle, text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, journalPath);
    },
    async commit() {
      for (const path of [journalPath, `${journalPath}.tmp`]) await rm(path, { force: true });
      await hasher.close();
      if (options.force) await rm(outDir, { recursive: true, force: true });
      await rename(partial, outDir);
      return outDir;
    },
    async abort() {
      await closeAll();
      await hasher.close();
      await rm(partial, { recursive: true, force: true });
    },
    async keep() {
      await closeAll();
      await hasher.close();
    },
  };

  async function closeAll(): Promise<void> {
    const files = [...openFiles];
    openFiles.clear();
    await Promise.all(files.map((file) => file.close().catch(() => undefined)));
  }
}
