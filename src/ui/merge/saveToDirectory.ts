import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import { openSavedFile, pathsInSaveOrder } from "./mergedFiles.ts";
import type { SubstituteFiles } from "./recordedMergeFiles.ts";

/**
 * Copies a finished merge from OPFS into `directory/folderName/`, streaming each file chunk by
 * chunk into a writable (which the browser commits only when the file is complete),
 * merge_recipe.json last. `substitutes` take the place of the merge's files of the same path, or
 * join them. An existing `folderName` is refused; on failure the folder is removed.
 */
export async function saveToDirectory(
  result: BrowserMergeResult,
  directory: FileSystemDirectoryHandle,
  folderName: string,
  onProgress?: (bytesDone: number, bytesTotal: number) => void,
  substitutes: SubstituteFiles = {},
): Promise<void> {
  if (await hasEntry(directory, folderName)) {
    throw new Error(`${directory.name}/${folderName} already exists: choose another folder, or remove it first`);
  }
  const paths = pathsInSaveOrder(result, substitutes);
  const bytesTotal = paths.reduce((sum, path) => sum + (Object.hasOwn(substitutes, path) ? substitutes[path]!.byteLength : result.files[path]!.size), 0);
  let bytesDone = 0;
  const out = await directory.getDirectoryHandle(folderName, { create: true });
  try {
    for (const path of paths) {
      const file = await openSavedFile(result, path, substitutes);
      const parts = path.split("/");
      let folder = out;
      for (const part of parts.slice(0, -1)) folder = await folder.getDirectoryHandle(part, { create: true });
      const writable = await (await folder.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
      const count = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytesDone += chunk.byteLength;
          onProgress?.(bytesDone, bytesTotal);
          controller.enqueue(chunk);
        },
      });
      await file.stream().pipeThrough(count).pipeTo(writable);
    }
  } catch (error) {
    await directory.removeEntry(folderName, { recursive: true }).catch(() => undefined);
    throw error;
  }
}

async function hasEntry(directory: FileSystemDirectoryHandle, name: string): Promise<boolean> {
  for (const get of [() => directory.getDirectoryHandle(name), () => directory.getFileHandle(name)]) {
    try {
      await get();
      return true;
    } catch (error) {
      if (!(error instanceof DOMException && (error.name === "NotFoundError" || error.name === "TypeMismatchError"))) throw error;
    }
  }
  return false;
}
