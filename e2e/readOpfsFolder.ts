import { expect, type Page } from "@playwright/test";

/** Every file under an OPFS folder of the page's origin (subfolders included), by path. */
export async function readOpfsFolder(page: Page, path: string[]): Promise<Map<string, Buffer>> {
  const files = await page.evaluate(async (path) => {
    let folder = await navigator.storage.getDirectory();
    for (const part of path) folder = await folder.getDirectoryHandle(part);
    const found: Record<string, string> = {};
    const walk = async (directory: FileSystemDirectoryHandle, prefix: string) => {
      for await (const [name, handle] of (directory as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        if (handle.kind === "directory") {
          await walk(handle as FileSystemDirectoryHandle, `${prefix}${name}/`);
        } else {
          const bytes = new Uint8Array(await (await (handle as FileSystemFileHandle).getFile()).arrayBuffer());
          let binary = "";
          for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          found[`${prefix}${name}`] = btoa(binary);
        }
      }
    };
    await walk(folder, "");
    return found;
  }, path);
  return new Map(Object.entries(files).map(([name, base64]) => [name, Buffer.from(base64, "base64")]));
}

/**
 * Clicks "Save to folder" on a finished merge (showDirectoryPicker answered with OPFS picked/ by the
 * spec), waits for the saved status and returns the saved folder's name and files.
 */
export async function saveMergeToPickedFolder(page: Page): Promise<{ folderName: string; files: Map<string, Buffer> }> {
  await page.getByTestId("save-folder-button").click();
  const saved = page.getByTestId("merge-done").getByRole("status");
  await expect(saved).toContainText("Saved as picked/", { timeout: 60_000 });
  const folderName = (await saved.textContent())!.match(/Saved as picked\/(.+)\.$/)![1]!;
  return { folderName, files: await readOpfsFolder(page, ["picked", folderName]) };
}

/** The names of the merges the studio keeps in OPFS (merges/): empty once a cancelled merge is cleaned up. */
export function listOpfsMerges(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const merges = await (await navigator.storage.getDirectory()).getDirectoryHandle("merges", { create: true });
    const names: string[] = [];
    for await (const name of (merges as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names;
  });
}
