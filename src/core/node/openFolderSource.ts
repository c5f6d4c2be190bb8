import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { ModelSource, RepoFile } from "../sources/ModelSource.ts";

/** A model folder on the local disk (Node only). File handles stay open until `close`. */
export async function openFolderSource(dir: string): Promise<ModelSource> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new Error(`${dir}: no such folder`);
  if (!info.isDirectory()) throw new Error(`${dir}: not a folder`);
  const handles = new Map<string, Promise<FileHandle>>();

  const handleFor = (path: string): Promise<FileHandle> => {
    let handle = handles.get(path);
    if (!handle) {
      handle = open(join(dir, path), "r");
      handles.set(path, handle);
    }
    return handle;
  };

  return {
    label: dir,
    async listFiles() {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      const files: RepoFile[] = [];
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        const full = join(entry.parentPath, entry.name);
        const path = relative(dir, full).split(sep).join("/");
        if (path.startsWith(".")) continue;
        files.push({ path, size: (await stat(full)).size });
      }
      return files.sort((a, b) => (a.path < b.path ? -1 : 1));
    },
    async read(path, offset, length, signal, into) {
      signal?.throwIfAborted();
      const handle = await handleFor(path);
      const bytes = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new Error(`${join(dir, path)}: wanted bytes ${offset}..${offset + length} but the file ends at ${offset + done}`);
        }
        done += bytesRead;
      }
      return bytes;
    },
    async close() {
      const all = [...handles.values()];
      handles.clear();
      await Promise.all(all.map(async (handle) => (await handle).close()));
    },
  };
}
