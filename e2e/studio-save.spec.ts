import { expect, test, type Page } from "@playwright/test";
import { DEMO_HUB_URL, DEMO_TRIO, expectSameAsCli, mergeWithCli } from "./cliReference.ts";
import { openMergeApiPageOnStudio } from "./mergeApiPage.ts";
import { listOpfsMerges, saveMergeToPickedFolder } from "./readOpfsFolder.ts";

let cliFiles: Map<string, Buffer>;
test.describe.configure({ timeout: 120_000 });
test.beforeAll(async () => {
  cliFiles = await mergeWithCli();
});

const recipe = `/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`;

/** Opens the recipe with showDirectoryPicker answering an OPFS folder "picked", as a user picking a folder would. */
async function openRecipe(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.assign(window, {
      showDirectoryPicker: async () => (await navigator.storage.getDirectory()).getDirectoryHandle("picked", { create: true }),
    });
  });
  await page.goto(recipe);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ["merges", "picked"]) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  });
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
}

test("Save to folder writes the CLI's bytes into the picked folder", async ({ page }) => {
  await openRecipe(page);
  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-progress")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/studio-merging.png", fullPage: true });
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 90_000 });
  expectSameAsCli((await saveMergeToPickedFolder(page)).files, cliFiles);
});

test("Cancel stops the merge, shows nothing as done and leaves no output", async ({ page }) => {
  await openRecipe(page);
  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-progress")).toBeVisible();
  await page.getByTestId("merge-cancel").click();
  await expect(page.getByTestId("merge-progress")).toHaveCount(0);
  await expect(page.getByTestId("merge-done")).toHaveCount(0);
  await expect(page.getByTestId("merge-button")).toBeEnabled();
  await expect.poll(() => listOpfsMerges(page)).toEqual([]);
});

/** The names under OPFS merges/. */
const mergesEntries = (page: Page) =>
  page.evaluate(async () => {
    const merges = await (await navigator.storage.getDirectory()).getDirectoryHandle("merges", { create: true });
    const names: string[] = [];
    for await (const name of (merges as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names.sort();
  });

/** The sweep of merges left by closed tabs (run once per page), on a merge API page of the studio's origin (e2e/merge-api-page.ts), awaited: the names it removed. */
const sweepClosedTabsMerges = (page: Page) =>
  page.evaluate(() => (window as unknown as { __mergeStudio: { sweepOrphanedMergesOnce(): Promise<string[]> } }).__mergeStudio.sweepOrphanedMergesOnce());

test("a new tab removes the merges of closed tabs and keeps those of open ones", async ({ page, context }) => {
  await openRecipe(page);
  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 90_000 });
  const [kept] = await mergesEntries(page);
  expect(kept).toMatch(/-merged$/);
  await page.evaluate(async () => {
    const merges = await (await navigator.storage.getDirectory()).getDirectoryHandle("merges");
    const orphan = await merges.getDirectoryHandle("closed-tab-merged", { create: true });
    await (await orphan.getFileHandle("model.safetensors", { create: true })).createWritable().then((file) => file.close());
    await (await merges.getFileHandle("closed-tab-merged.zip", { create: true })).createWritable().then((file) => file.close());
  });

  const second = await context.newPage();
  await openMergeApiPageOnStudio(second);
  expect((await sweepClosedTabsMerges(second)).sort()).toEqual(["closed-tab-merged", "closed-tab-merged.zip"]);
  expect(await mergesEntries(second)).toEqual([kept]);

  await page.close();
  const third = await context.newPage();
  await openMergeApiPageOnStudio(third);
  expect(await sweepClosedTabsMerges(third)).toEqual([kept]);
  expect(await mergesEntries(third)).toEqual([]);
});

test("the studio removes the merges of closed tabs when it opens", async ({ page, context }) => {
  const setup = await context.newPage();
  await openMergeApiPageOnStudio(setup);
  await setup.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry("merges", { recursive: true }).catch(() => undefined);
    const orphan = await (await root.getDirectoryHandle("merges", { create: true })).getDirectoryHandle("closed-tab-merged", { create: true });
    await (await orphan.getFileHandle("model.safetensors", { create: true })).createWritable().then((file) => file.close());
  });
  expect(await mergesEntries(setup)).toEqual(["closed-tab-merged"]);
  await setup.close();

  await page.goto("/");
  await expect.poll(() => mergesEntries(page)).toEqual([]);
});
