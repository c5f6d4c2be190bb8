import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import { zipFileName } from "./downloadAsZip.ts";
import { removeOpfsMerge } from "./mergedFiles.ts";
import { disownMergeFolder } from "./opfsMergeOwnership.ts";

/** Deletes a merge's OPFS folder, and the zip made of it if any, and gives up this tab's hold on them. */
export async function discardMerge(result: BrowserMergeResult): Promise<void> {
  await removeOpfsMerge(result.folder);
  await removeOpfsMerge(zipFileName(result));
  disownMergeFolder(result.folder);
}
