import { makeZip } from "client-zip";
import { openOpfsMergesFolder } from "../../core/sinks/openOpfsFolderSink.ts";
import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import { openSavedFile, pathsInSaveOrder } from "./mergedFiles.ts";
import type { SubstituteFiles } from "./recordedMergeFiles.ts";

/** How long the download's object URL lives: the browser holds the file once the download has started. */
const OBJECT_URL_LIFETIME_MS = 60_000;

/** Where the zip of a merge is built, next to its folder in OPFS merges/. */
export const zipFileName = (result: BrowserMergeResult) => `${result.folder}.zip`;

/**
 * Offers the merged folder as one .zip download (stored, Zip64 where sizes need it) for browsers
 * without showDirectoryPicker. The zip is streamed from the merged files into an OPFS file and the
 * download reads that file, so no file is ever whole in memory; discardMerge removes it.
 * `substitutes` take the place of the merge's files of the same path, or join them.
 */
export async function downloadAsZip(result: BrowserMergeResult, zipName: string, substitutes: SubstituteFiles = {}): Promise<void> {
  const root = zipName.replace(/\.zip$/i, "") || result.folder;
  async function* entries() {
    for (const path of pathsInSaveOrder(result, substitutes)) {
      const file = await openSavedFile(result, path, substitutes);
      yield { name: `${root}/${path}`, input: file, lastModified: file.lastModified, size: file.size };
    }
  }
  const merges = await openOpfsMergesFolder();
  const zipHandle = await merges.getFileHandle(zipFileName(result), { create: true });
  await makeZip(entries()).pipeTo(await zipHandle.createWritable());
  const url = URL.createObjectURL(await zipHandle.getFile());
  const link = document.createElement("a");
  link.href = url;
  link.download = zipName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), OBJECT_URL_LIFETIME_MS);
}
