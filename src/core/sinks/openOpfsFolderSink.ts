import { createSHA256 } from "hash-wasm";
import type { FileSink, FolderSink } from "./FolderSink.ts";

/** The OPFS folder that holds every merge, one subfolder each. */
export const OPFS_MERGES_FOLDER = "merges";

/** What this sink uses of FileSystemSyncAccessHandle, a worker-only API that the DOM typings lack. */
interface SyncAccessHandle {
  write(bytes: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

type WorkerFileHandle = FileSystemFileHandle & { createSyncAccessHandle(): Promise<SyncAccessHandle> };

/** Opens `merges/` of the origin private file system. */
export async function openOpfsMergesFolder(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(OPFS_MERGES_FOLDER, { create: true });
}

/**
 * Writes a merged model into a new folder `merges/<name>/` of the origin private file system; an
 * existing entry of that name is an error (the page chooses free names, see
 * src/ui/merge/opfsMergeOwnership.ts). Files are written through synchronous access handles, so
 * this sink runs in a dedicated worker only. OPFS cannot rename a folder, so the folder exists from
 * the start: what marks it complete is `commit` resolving; `abort` removes it.
 */
export async function openOpfsFolderSink(name: string): Promise<FolderSink & { name: string }> {
  const merges = await openOpfsMergesFolder();
  for await (const existing of merges.keys()) {
    if (existing === name) throw new Error(`the browser's storage already holds merges/${name}`);
  }
  const folder = await merges.getDirectoryHandle(name, { create: true });
  const open = new Set<SyncAccessHandle>();

  return {
    name,
    async createFile(path) {
      const parts = path.split("/");
      let directory = folder;
      for (const part of parts.slice(0, -1)) directory = await directory.getDirectoryHandle(part, { create: true });
      const file = await directory.getFileHandle(parts.at(-1)!, { create: true });
      const handle = await (file as WorkerFileHandle).createSyncAccessHandle();
      open.add(handle);
      handle.truncate(0);
      const hash = await createSHA256();
      let size = 0;
      const sink: FileSink = {
        async write(bytes) {
          hash.update(bytes);
          let done = 0;
          while (done < bytes.byteLength) done += handle.write(bytes.subarray(done), { at: size + done });
          size += bytes.byteLength;
        },
        async close() {
          handle.flush();
          handle.close();
          open.delete(handle);
          return { size, sha256: hash.digest("hex") };
        },
      };
      return sink;
    },
    async commit() {
      return name;
    },
    async abort() {
      for (const handle of open) handle.close();
      open.clear();
      await merges.removeEntry(name, { recursive: true });
    },
  };
}
