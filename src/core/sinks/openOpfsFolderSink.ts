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

/**
 * OPFS cannot rename a file atomically, so the journal is written in place, into two files in turn,
 * each beginning with a line that holds its sequence number: a write cut short spoils only the file
 * it was writing, and a reader takes the readable one with the higher number.
 */
const JOURNAL_SLOTS = [JOURNAL_FILE_NAME, `${JOURNAL_FILE_NAME}.2`] as const;

/** The newest readable journal of a merge folder in OPFS (its text, and when it was written), if any. */
export async function readOpfsJournal(folder: FileSystemDirectoryHandle): Promise<{ text: string; modified: number; sequence: number } | undefined> {
  let newest: { text: string; modified: number; sequence: number } | undefined;
  for (const slot of JOURNAL_SLOTS) {
    const file = await folder
      .getFileHandle(slot)
      .then((handle) => handle.getFile())
      .catch(() => undefined);
    const content = await file?.text().catch(() => undefined);
    if (!file || content === undefined) continue;
    const line = /^(\d+)\n/.exec(content);
    if (!line) continue;
    const text = content.slice(line[0].length);
    try {
      JSON.parse(text);
    } catch {
      continue;
    }
    const sequence = Number(line[1]);
    if (!newest || sequence > newest.sequence) newest = { text, modified: file.lastModified, sequence };
  }
  return newest;
}

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
 * resolving, which removes the journal (see JOURNAL_SLOTS); `abort` removes the folder.
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
    const handle = await ((await fileHandle(path, create)) as WorkerFileHandle).createSyncAccessHandle();
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
  const closeAll = () => {
    for (const handle of open) handle.close();
    open.clear();
  };
  // The journal's files stay open from here to the end. In Chromium, opening one while a shard's
  // file was open (a handle per journal write) sometimes never settled, and the merge stalled.
  const resumed = options.resume ? await readOpfsJournal(folder) : undefined;
  let journalSequence = (resumed?.sequence ?? -1) + 1;
  const journalHandles: SyncAccessHandle[] = [];
  for (const slot of JOURNAL_SLOTS) journalHandles.push(await accessHandle(slot, true));

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
      return resumed?.text;
    },
    async writeJournal(text) {
      const handle = journalHandles[journalSequence % 2]!;
      const bytes = new TextEncoder().encode(`${journalSequence}\n${text}`);
      handle.truncate(0);
      for (let done = 0; done < bytes.byteLength; ) done += handle.write(bytes.subarray(done), { at: done });
      handle.flush();
      journalSequence++;
    },
    async commit() {
      closeAll();
      for (const slot of JOURNAL_SLOTS) await folder.removeEntry(slot).catch(() => undefined);
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
