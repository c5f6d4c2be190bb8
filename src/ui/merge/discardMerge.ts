import type { BrowserMergeResult } from "./browserMerge.ts";
import { zipFileName } from "./downloadAsZip.ts";
import { removeOpfsMerge } from "./mergedFiles.ts";

/** Deletes a merge's OPFS folder, and the zip made of it if any. */
export async function discardMerge(result: BrowserMergeResult): Promise<void> {
  await removeOpfsMerge(result.folder);
  await removeOpfsMerge(zipFileName(result));
}
