import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ModelSource, RepoFile } from "../sources/ModelSource.ts";

/**
 * A model folder on the local disk (Node only). File handles stay open until `close`. Symbolic
 * links to files are followed (the Hugging Face cache's snapshots/SHA/ folders are made of links
 * to blobs/); names that are not valid UTF-8 and names starting with "." are skipped: no model
 * file has such a name.
 */
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
    listFiles: () => listFolder(dir),
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

/** Every file under `dir` (following links to files, not to folders), sorted by path. */
async function listFolder(dir: string): Promise<RepoFile[]> {
  const files: RepoFile[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(join(dir, folder), { withFileTypes: true, encoding: "buffer" });
    for (const entry of entries) {
      let name: string;
      try {
        name = decoder.decode(entry.name);
      } catch {
        continue;
      }
      if (name.startsWith(".")) continue;
      const path = folder === "" ? name : `${folder}/${name}`;
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        const info = await stat(join(dir, path)).catch(() => undefined);
        if (info?.isFile()) files.push({ path, size: info.size });
      }
    }
  };
  await walk("");
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}
