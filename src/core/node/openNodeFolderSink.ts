import { lstat, open, readFile, rename, rm, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { JOURNAL_FILE_NAME, ResumeError, type FileSink, type FolderSink, type WrittenFile } from "../sinks/FolderSink.ts";
import { acquireFolderLock } from "./acquireFolderLock.ts";
import { fileSystemError } from "./fileSystemError.ts";
import { inspectPartialFolder, type PartialFolderState } from "./inspectPartialFolder.ts";
import { makeFolders } from "./makeFolders.ts";
import { outputFolderPaths } from "./outputFolderPaths.ts";
import { startSha256Worker, type IncrementalSha256 } from "./startSha256Worker.ts";

/** Bytes read at a time when re-hashing a file of an interrupted merge. */
const VERIFY_CHUNK_BYTES = 8 * 2 ** 20;

export interface NodeFolderSinkOptions {
  /** Replace an existing OUT, and delete an OUT.partial that is not an unfinished merge of this tool. */
  force?: boolean;
  /** Keep an OUT.partial that holds a merge journal, to resume the merge it holds. */
  resume?: boolean;
}

export interface NodeFolderSink extends FolderSink {
  /** The output folder, normalised (outputFolderPaths). */
  readonly out: string;
  readonly partial: string;
  /** What OUT.partial held when the sink opened: kept when `resume` and `journal`, else removed. */
  readonly found: PartialFolderState;
}

/**
 * Writes into `OUT.partial/` and renames it to `OUT/` on commit, so an interrupted merge never
 * leaves a folder that looks complete. The path is normalised first (`out/` is `out`). While open,
 * the sink holds the lock file `OUT.lock` (acquireFolderLock), so a second merge into the same
 * folder is refused, naming the first; the lock is released on commit, abort and keep.
 * An existing OUT is refused unless `force`. An existing OUT.partial is kept when `resume` and it
 * holds a journal; otherwise it is removed when it is empty or an unfinished merge of this tool
 * (inspectPartialFolder), and refused unless `force` when it holds anything else. SHA-256 is
 * computed on a worker thread while the bytes are written (startSha256Worker): give it chunks in
 * SharedArrayBuffers and it hashes them where they lie. Every file handle is closed on every path;
 * file system errors name the file and say what is wrong (fileSystemError).
 */
export async function openNodeFolderSink(outDir: string, options: NodeFolderSinkOptions = {}): Promise<NodeFolderSink> {
  const { out, partial, lock: lockPath } = outputFolderPaths(outDir);
  await makeFolders(dirname(out));
  const lock = await acquireFolderLock(lockPath, out);
  let found: PartialFolderState;
  try {
    const exists = await lstat(out).then(() => true, () => false);
    if (exists && !options.force) {
      throw new Error(`${out} already exists; choose another output folder or pass --force to replace it`);
    }
    found = await inspectPartialFolder(partial);
    if (found.kind === "foreign" && !options.force) {
      throw new Error(`${partial} exists and is not an unfinished merge of this tool (${found.reason}); it is left alone: move it away, or pass --force to delete it`);
    }
    if (found.kind !== "absent" && !(options.resume && found.kind === "journal")) await rm(partial, { recursive: true, force: true });
    await makeFolders(partial);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const journalPath = join(partial, JOURNAL_FILE_NAME);
  const openFiles = new Set<{ close(): Promise<WrittenFile> }>();
  const hasher = startSha256Worker();

  const appendTo = (path: string, handle: FileHandle, hash: IncrementalSha256, size: number): FileSink => {
    const full = join(partial, path);
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
        } catch (error) {
          throw fileSystemError(error, full, "write");
        } finally {
          await hashed;
        }
        size += bytes.byteLength;
      },
      checkpoint() {
        // Taken now: the worker hashes in order, so the snapshot covers exactly the bytes written so far.
        const written = size;
        const snapshot = hash.snapshot().then((sha256) => ({ size: written, sha256 }));
        const synced = Promise.all([durable.then(() => handle.datasync().catch((error: unknown) => Promise.reject(fileSystemError(error, full, "write")))), snapshot]).then(([, taken]) => taken);
        durable = synced.catch(() => undefined);
        return synced;
      },
      async close() {
        openFiles.delete(sink);
        await durable;
        await handle.close().catch((error: unknown) => Promise.reject(fileSystemError(error, full, "write")));
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
    out,
    partial,
    found,
    async createFile(path) {
      const full = join(partial, path);
      await makeFolders(dirname(full));
      const handle = await open(full, "w").catch((error: unknown) => Promise.reject(fileSystemError(error, full, "create")));
      return appendTo(path, handle, hasher.create(), 0);
    },
    async reopenFile(path, prefix) {
      const handle = await open(join(partial, path), "r+");
      try {
        const { hash } = await hashPrefix(path, handle, prefix.size);
        if ((await hash.snapshot()) !== prefix.sha256) throw changed(path, `its first ${prefix.size} bytes`);
        await handle.truncate(prefix.size);
        return appendTo(path, handle, hash, prefix.size);
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
      const handle = await open(temporary, "w").catch((error: unknown) => Promise.reject(fileSystemError(error, temporary, "create")));
      try {
        await writeFile(handle, text);
        await handle.datasync();
      } catch (error) {
        throw fileSystemError(error, temporary, "write");
      } finally {
        await handle.close();
      }
      await rename(temporary, journalPath);
    },
    async commit() {
      // Renamed with its journal, which is removed from OUT after: should the rename fail, OUT.partial
      // still holds the journal, and --resume finishes the merge.
      await rm(`${journalPath}.tmp`, { force: true });
      await closeAll();
      await hasher.close();
      if (options.force) await rm(out, { recursive: true, force: true });
      await rename(partial, out).catch((error: unknown) => Promise.reject(fileSystemError(error, `${partial} to ${out}`, "rename")));
      await rm(join(out, JOURNAL_FILE_NAME), { force: true });
      await lock.release();
      return out;
    },
    async abort() {
      try {
        await closeAll();
        await hasher.close();
        await rm(partial, { recursive: true, force: true });
      } finally {
        await lock.release();
      }
    },
    async keep() {
      try {
        await closeAll();
        await hasher.close();
      } finally {
        await lock.release();
      }
    },
  };

  async function closeAll(): Promise<void> {
    const files = [...openFiles];
    openFiles.clear();
    await Promise.all(files.map((file) => file.close().catch(() => undefined)));
  }
}
