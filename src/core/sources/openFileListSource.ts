import type { ModelSource, RepoFile } from "./ModelSource.ts";

/**
 * A local model folder picked in the browser (`<input webkitdirectory>`, drag and drop, or a
 * directory handle's files), as File objects. Reads slice the File, so nothing is loaded whole.
 * Paths are taken relative to the folder: the common first segment of `webkitRelativePath` is dropped.
 */
export function openFileListSource(label: string, files: readonly File[]): ModelSource {
  const relative = (file: File) => (file.webkitRelativePath || file.name).split("/");
  const paths = files.map(relative);
  const root = paths[0]?.[0];
  const sharedRoot = paths.every((parts) => parts.length > 1 && parts[0] === root);
  const byPath = new Map<string, File>();
  files.forEach((file, index) => {
    const path = (sharedRoot ? paths[index]!.slice(1) : paths[index]!).join("/");
    if (!path.split("/").some((part) => part.startsWith("."))) byPath.set(path, file);
  });
  return {
    label,
    async listFiles() {
      const listed: RepoFile[] = [...byPath].map(([path, file]) => ({ path, size: file.size }));
      return listed.sort((a, b) => (a.path < b.path ? -1 : 1));
    },
    async read(path, offset, length, signal) {
      signal?.throwIfAborted();
      const file = byPath.get(path);
      if (!file) throw new Error(`${label}: file "${path}" not found in the folder`);
      if (offset + length > file.size) {
        throw new Error(`${label}/${path}: wanted bytes ${offset}..${offset + length} but the file has ${file.size} bytes`);
      }
      return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
    },
  };
}
