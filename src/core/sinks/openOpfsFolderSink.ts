import { createSHA256, type IHasher } from "hash-wasm";
import { JOURNAL_FILE_NAME, ResumeError, type FileSink, type FolderSink } from "./FolderSink.ts";

/** The OPFS folder that holds every merge, one subfolder each. */
export const OPFS_MERGES_FOLDER = "merges";

/** What this sink uses of FileSystemSyncAccessHandle, a worker-only API that the DOM typings lack. */
interface SyncAccessHandle {
  read(bytes: Uint8Array, options: { at: number }): number;
  write(bytes: Uint8Array, options: { at: number }): number;
  getSize(): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

type WorkerFileHandle = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> };

/** Bytes read at a time when re-hashing a file of an interrupted merge. */
const VERIFY_CHUNK_BYTES = 8 * 2 ** 20;
const JOURNAL_TEMPORARY = `${JOURNAL_FILE_NAME}.tmp`;

/** Opens `merges/` of the origin private file system. */
export async function openOpfsMergesFolder(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(OPFS_MERGES_FOLDER, { create: true });
}

/**
 * Writes a merged model into a folder `merges/<name>/` of the origin private file system: a new
 * one (an existing entry of that name is an error: the page chooses free names, see
 * src/ui/merge/opfsMergeOwnership.ts), or with `resume` the folder of an unfinished merge. Files are
 * written through synchronous access handles, so this sink runs in a dedicated worker only. OPFS
 * cannot rename a folder, so the folder exists from the start: what marks it complete is `commit`
 * resolving, which removes the journal; `abort` removes the folder.
 *
 * OPFS has no atomic rename either, so the journal is replaced in three steps: the new text is
 * written and flushed to merge-journal.json.tmp, the old journal removed, the temporary moved in.
 * A reader takes merge-journal.json, else the temporary: the temporary can be incomplete only
 * while the old journal still exists.
 */
export async function openOpfsFolderSink(name: string, options: { resume?: boolean } = {}): Promise<FolderSink & { name: string }> {
  const merges = await openOpfsMergesFolder();
  if (!options.resume) {
    for await (const existing of merges.keys()) {
      if (existing === name) throw new Error(`the browser's storage already holds merges/${name}`);
    }
  }
  const folder = await merges.getDirectoryHandle(name, { create: true });
  const open = new Set<SyncAccessHandle>();

  const fileHandle = async (path: string, create: boolean) => {
    const parts = path.split("/");
    let directory = folder;
    for (const part of parts.slice(0, -1)) directory = await directory.getDirectoryHandle(part, { create });
    return directory.getFileHandle(parts.at(-1)!, { create });
  };
  const accessHandle = async (path: string, create: boolean) => {
    const handle = await (((await fileHandle(path, create)) as WorkerFileHandle).createSyncAccessHandle());
    open.add(handle);
    return handle;
  };
  const closeHandle = (handle: SyncAccessHandle) => {
    if (open.delete(handle)) handle.close();
  };
  /** The SHA-256 of what a hasher whose state was saved as `state` has seen so far. */
  const digestOf = async (state: Uint8Array) => {
    const copy = await createSHA256();
    copy.load(state);
    return copy.digest("hex");
  };
  const appendTo = (handle: SyncAccessHandle, hash: IHasher, size: number): FileSink => ({
    async write(bytes) {
      hash.update(bytes);
      let done = 0;
      while (done < bytes.byteLength) done += handle.write(bytes.subarray(done), { at: size + done });
      size += bytes.byteLength;
    },
    async checkpoint() {
      // Taken before any await: a write or close that follows must not change what is recorded.
      const [written, state] = [size, hash.save()];
      handle.flush();
      return { size: written, sha256: await digestOf(state) };
    },
    async close() {
      handle.flush();
      closeHandle(handle);
      return { size, sha256: hash.digest("hex") };
    },
  });
  const hashPrefix = async (path: string, handle: SyncAccessHandle, length: number) => {
    const fileSize = handle.getSize();
    if (fileSize < length) throw new ResumeError(`merges/${name}/${path} has ${fileSize} bytes, fewer than the ${length} recorded in the journal: it was changed since`);
    const hash = await createSHA256();
    const buffer = new Uint8Array(Math.min(VERIFY_CHUNK_BYTES, Math.max(1, length)));
    for (let offset = 0; offset < length; ) {
      const bytesRead = handle.read(buffer.subarray(0, Math.min(buffer.byteLength, length - offset)), { at: offset });
      if (bytesRead === 0) throw new ResumeError(`merges/${name}/${path} ended at byte ${offset} while being verified`);
      hash.update(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
    return { hash, fileSize };
  };
  const changed = (path: string, what: string) =>
    new ResumeError(`merges/${name}/${path}: ${what} do not match the SHA-256 recorded in the journal when they were written: the file was changed or corrupted since`);
  const readText = async (path: string) => {
    const file = await fileHandle(path, false).catch(() => undefined);
    return file ? (await file.getFile()).text() : undefined;
  };
  const closeAll = () => {
    for (const handle of open) handle.close();
    open.clear();
  };

  return {
    name,
    async createFile(path) {
      const handle = await accessHandle(path, true);
      handle.truncate(0);
      return appendTo(handle, await createSHA256(), 0);
    },
    async reopenFile(path, prefix) {
      const handle = await accessHandle(path, false);
      try {
        const { hash } = await hashPrefix(path, handle, prefix.size);
        if ((await digestOf(hash.save())) !== prefix.sha256) throw changed(path, `its first ${prefix.size} bytes`);
        handle.truncate(prefix.size);
        return appendTo(handle, hash, prefix.size);
      } catch (error) {
        closeHandle(handle);
        throw error;
      }
    },
    async verifyFile(path, expected) {
      const handle = await accessHandle(path, false).catch(() => {
        throw new ResumeError(`merges/${name}/${path} is missing: the journal records it as finished`);
      });
      try {
        const { hash, fileSize } = await hashPrefix(path, handle, expected.size);
        if (fileSize !== expected.size) throw new ResumeError(`merges/${name}/${path} has ${fileSize} bytes, not the ${expected.size} recorded in the journal: it was changed since`);
        if (hash.digest("hex") !== expected.sha256) throw changed(path, "its bytes");
      } finally {
        closeHandle(handle);
      }
    },
    async readJournal() {
      return (await readText(JOURNAL_FILE_NAME)) ?? (await readText(JOURNAL_TEMPORARY));
    },
    async writeJournal(text) {
      const handle = await accessHandle(JOURNAL_TEMPORARY, true);
      try {
        const bytes = new TextEncoder().encode(text);
        handle.truncate(0);
        for (let done = 0; done < bytes.byteLength; ) done += handle.write(bytes.subarray(done), { at: done });
        handle.flush();
      } finally {
        closeHandle(handle);
      }
      await folder.removeEntry(JOURNAL_FILE_NAME).catch(() => undefined);
      const temporary = (await folder.getFileHandle(JOURNAL_TEMPORARY)) as FileSystemFileHandle & { move(name: string): Promise<void> };
      await temporary.move(JOURNAL_FILE_NAME);
    },
    async commit() {
      closeAll();
      for (const path of [JOURNAL_FILE_NAME, JOURNAL_TEMPORARY]) await folder.removeEntry(path).catch(() => undefined);
      return name;
    },
    async abort() {
      closeAll();
      await merges.removeEntry(name, { recursive: true });
    },
    async keep() {
      closeAll();
    },
  };
}
