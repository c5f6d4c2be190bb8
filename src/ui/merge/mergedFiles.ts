import { openOpfsMergesFolder } from "../../core/sinks/openOpfsFolderSink.ts";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";

/** A merge's file paths in the order they are saved: merge_recipe.json last, so a saved folder with a recipe is complete. */
export function pathsInSaveOrder(result: BrowserMergeResult): string[] {
  const paths = Object.keys(result.files).filter((path) => path !== RECIPE_FILE_NAME);
  return RECIPE_FILE_NAME in result.files ? [...paths, RECIPE_FILE_NAME] : paths;
}

/** One file of a finished merge, as a File backed by OPFS (read lazily, never whole). */
export async function openMergedFile(result: BrowserMergeResult, path: string): Promise<File> {
  let directory = await (await openOpfsMergesFolder()).getDirectoryHandle(result.folder);
  const parts = path.split("/");
  for (const part of parts.slice(0, -1)) directory = await directory.getDirectoryHandle(part);
  const file = await (await directory.getFileHandle(parts.at(-1)!)).getFile();
  const expected = result.files[path]!.size;
  if (file.size !== expected) throw new Error(`${result.folder}/${path} in the browser's storage has ${file.size} bytes, not ${expected}`);
  return file;
}

/** Removes an entry of OPFS merges/ if it exists. */
export async function removeOpfsMerge(name: string): Promise<void> {
  const merges = await openOpfsMergesFolder();
  try {
    await merges.removeEntry(name, { recursive: true });
  } catch (error) {
    if (!(error instanceof DOMException && error.name === "NotFoundError")) throw error;
  }
}
