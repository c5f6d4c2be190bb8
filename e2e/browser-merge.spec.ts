import { expect, test, type Page } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { DEMO_HUB_URL, DEMO_TRIO, demoTrioRecipe, expectSameAsCli, mergeRecipeWithCli, mergeWithCli } from "./cliReference.ts";
import { openMergeApiPage, serveMergeApiPage } from "./mergeApiPage.ts";
import { listOpfsMerges, readOpfsFolder } from "./readOpfsFolder.ts";
import { readStoredZip } from "./readStoredZip.ts";

const REQUEST = {
  hubUrl: DEMO_HUB_URL,
  ...demoTrioRecipe(1),
  shardSize: 5e9,
};

/** The parts of src/ui/merge/browserMerge.ts this test uses, as e2e/merge-api-page.ts exposes them. */
interface BrowserMergeResult {
  folder: string;
  files: Record<string, { size: number; sha256: string }>;
  bytesWritten: number;
  workers: number;
}
declare global {
  interface Window {
    __mergeStudio: {
      startBrowserMerge(request: object, onProgress: (progress: { bytesDone: number; bytesTotal: number }) => void): { cancel(): void; done: Promise<BrowserMergeResult> };
      saveToDirectory(result: BrowserMergeResult, directory: FileSystemDirectoryHandle, folderName: string): Promise<void>;
      downloadAsZip(result: BrowserMergeResult, zipName: string): Promise<void>;
      discardMerge(result: BrowserMergeResult): Promise<void>;
    };
  }
}

let cliFiles: Map<string, Buffer>;
let mergeApiPage: { url: string; close(): Promise<void> };

// Each test merges the demo trio in the browser; the CLI merge runs once before them.
test.describe.configure({ timeout: 120_000 });

test.beforeAll(async () => {
  cliFiles = await mergeWithCli();
  mergeApiPage = await serveMergeApiPage();
});

test.afterAll(async () => {
  await mergeApiPage?.close();
});

async function openStudio(page: Page): Promise<void> {
  await openMergeApiPage(page, mergeApiPage.url);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ["merges", "saved"]) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  });
}

const mergeInPage = (page: Page, request: object = REQUEST) =>
  page.evaluate(async (request) => {
    const progress: number[] = [];
    const result = await window.__mergeStudio.startBrowserMerge(request, (p) => progress.push(p.bytesDone)).done;
    return { result, progress };
  }, request);

test("merges the demo trio into OPFS and saves it to a folder, byte-identical to the CLI", async ({ page }) => {
  await openStudio(page);
  const { result, progress } = await mergeInPage(page);
  expect(result.workers).toBeGreaterThanOrEqual(1);
  expect(progress.at(-1)).toBe(result.bytesWritten);
  expect(await listOpfsMerges(page)).toEqual([result.folder]);

  await page.evaluate(async (result: BrowserMergeResult) => {
    const saved = await (await navigator.storage.getDirectory()).getDirectoryHandle("saved", { create: true });
    await window.__mergeStudio.saveToDirectory(result, saved, result.folder);
  }, result);
  expectSameAsCli(await readOpfsFolder(page, ["saved", result.folder]), cliFiles);

  await page.evaluate((result) => window.__mergeStudio.discardMerge(result), result);
  expect(await listOpfsMerges(page)).toEqual([]);
});

test("cancelling mid-merge leaves no OPFS folder", async ({ page }) => {
  await openStudio(page);
  const outcome = await page.evaluate(async (request) => {
    let sawProgress = false;
    const job = window.__mergeStudio.startBrowserMerge(request, (p) => {
      if (!sawProgress && p.bytesDone < p.bytesTotal) job.cancel();
      sawProgress = true;
    });
    try {
      await job.done;
      return "completed";
    } catch (error) {
      return error instanceof DOMException ? error.name : String(error);
    }
  }, REQUEST);
  expect(outcome).toBe("AbortError");
  expect(await listOpfsMerges(page)).toEqual([]);
});

test("downloads the merge as a zip of the same bytes", async ({ page }) => {
  await openStudio(page);
  const { result } = await mergeInPage(page);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.evaluate((result) => window.__mergeStudio.downloadAsZip(result, "merged.zip"), result),
  ]);
  expect(download.suggestedFilename()).toBe("merged.zip");
  const entries = readStoredZip(await readFile(await download.path()));
  expect([...entries.keys()].every((name) => name.startsWith("merged/"))).toBe(true);
  expectSameAsCli(new Map([...entries].map(([name, bytes]) => [name.slice("merged/".length), bytes])), cliFiles);

  await page.evaluate((result) => window.__mergeStudio.discardMerge(result), result);
  expect(await listOpfsMerges(page)).toEqual([]);
});

test("a 2-vector TIES recipe with a layer gradient merged in the browser's worker pool equals the CLI's merge --config", async ({ page }) => {
  const { recipe, inputs } = demoTrioRecipe(1);
  const ties = {
    ...recipe,
    method: "ties",
    parameters: { ...recipe.parameters, normalize: true, density: 0.5 },
    vectors: [
      { plus: DEMO_TRIO.plus, minus: DEMO_TRIO.minus, weight: [0.5, 1] },
      { plus: DEMO_TRIO.minus, minus: DEMO_TRIO.target, weight: 0.3, density: 0.7 },
    ],
  };
  const cliTies = await mergeRecipeWithCli(ties);
  await openStudio(page);
  const { result } = await mergeInPage(page, { ...REQUEST, recipe: ties, inputs });
  expectSameAsCli(await readOpfsFolder(page, ["merges", result.folder]), cliTies);
  expect(cliTies.get("model.safetensors")!.equals(cliFiles.get("model.safetensors")!)).toBe(false);
  await page.evaluate((result) => window.__mergeStudio.discardMerge(result), result);
});
