import { openOpfsMergesFolder } from "../../core/sinks/openOpfsFolderSink.ts";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import { MODEL_CARD_FILE_NAME, type MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";
import type { SubstituteFiles } from "./recordedMergeFiles.ts";

/**
 * A merge's file paths in the order they are saved, with the substitutes' new paths after the
 * merge's own: merge_recipe.json last, so a saved folder with a recipe is complete.
 */
export function pathsInSaveOrder(result: BrowserMergeResult, substitutes: SubstituteFiles = {}): string[] {
  const all = [...new Set([...Object.keys(result.files), ...Object.keys(substitutes)])];
  const paths = all.filter((path) => path !== RECIPE_FILE_NAME);
  return all.includes(RECIPE_FILE_NAME) ? [...paths, RECIPE_FILE_NAME] : paths;
}

/** One file as a save writes it: its substitute when there is one, else the merge's file in OPFS (openMergedFile). */
export async function openSavedFile(result: BrowserMergeResult, path: string, substitutes: SubstituteFiles = {}): Promise<File> {
  const substitute = Object.hasOwn(substitutes, path) ? substitutes[path] : undefined;
  return substitute ? new File([substitute], path.split("/").at(-1)!) : openMergedFile(result, path);
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

/** A finished merge's README.md and merge_recipe.json, as text, from OPFS. */
export async function readMergeRecordFiles(result: BrowserMergeResult): Promise<MergeRecordFiles> {
  const text = async (path: string) => {
    if (!(path in result.files)) throw new Error(`${result.folder} has no ${path}: the merge did not write it`);
    return (await openMergedFile(result, path)).text();
  };
  return { readme: await text(MODEL_CARD_FILE_NAME), recipeJson: await text(RECIPE_FILE_NAME) };
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
