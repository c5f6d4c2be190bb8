import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, test } from "@playwright/test";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { writeDemoHub } from "../src/testmodels/writeDemoHub.ts";
import { TOY_MODELS_FOLDER } from "./toyModelsFolder.ts";
import { DEMO_TRIO, expectSameAsCli, readTree } from "./cliReference.ts";
import { openMergeApiPageOnStudio } from "./mergeApiPage.ts";
import { readOpfsFolder, saveMergeToPickedFolder } from "./readOpfsFolder.ts";

/** Small shards, so that the demo merge has several: the embeddings, then the layers in a few more. */
const SHARD_SIZE = "50KB";

let root: string;
/**
 * Every answer delayed: the merge takes seconds, long enough to close its tab half-way. The layers after
 * the embeddings are read in one request per shard and input (adjacent tensors share a read), so each
 * request must be slow for them to take seconds.
 */
let slowHub: RunningHubServer;
let cliFiles: Map<string, Buffer>;

test.describe.configure({ timeout: 180_000 });
test.beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "studio-resume-e2e-"));
  await writeDemoHub(join(root, "hub"), TOY_MODELS_FOLDER);
  slowHub = await startHubServer({ root: join(root, "hub"), port: 0, faults: { delayMs: 500 } });
  const fastHub = await startHubServer({ root: join(root, "hub"), port: 0 });
  try {
    const out = join(root, "cli");
    const { target, plus, minus } = DEMO_TRIO;
    const args = ["merge", "--hub-url", fastHub.url, "--target", target, "--plus", plus, "--minus", minus, "--alpha", "1", "--shard-size", SHARD_SIZE, "--out", out];
    // Not execFileSync: the Hub it reads from runs in this process.
    await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args]);
    cliFiles = await readTree(out);
  } finally {
    await fastHub.close();
  }
});
test.afterAll(async () => {
  await slowHub?.close();
  await rm(root, { recursive: true, force: true });
});

const recipe = () => `/?hub=${slowHub.url}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1&shard=${SHARD_SIZE}`;

test("a tab closed mid-merge: the same recipe link offers Resume, which ends with the CLI's bytes", async ({ context }) => {
  const first = await context.newPage();
  await first.goto(recipe());
  await first.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ["merges", "picked"]) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  });
  await expect(first.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 60_000 });
  await expect(first.getByTestId("merge-resume")).toHaveCount(0);
  await first.getByTestId("merge-button").click();
  // The embeddings are 99% of the bytes and fill the first shard; the layers take seconds more through
  // the slow Hub. (Watching the journal from the page instead would read it while the worker replaces it.)
  await expect(first.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "99", { timeout: 90_000 });
  await first.waitForTimeout(300);
  await expect(first.getByTestId("merge-done")).toHaveCount(0);
  await first.close();

  const second = await context.newPage();
  await second.addInitScript(() => {
    Object.assign(window, {
      showDirectoryPicker: async () => (await navigator.storage.getDirectory()).getDirectoryHandle("picked", { create: true }),
    });
  });
  await second.goto(recipe());
  await expect(second.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 60_000 });
  const resume = second.getByTestId("merge-resume");
  await expect(resume).toBeVisible({ timeout: 30_000 });
  await expect(resume).toHaveText(/Resume \([1-9]\d* of [2-9] shards done\)/);
  await resume.click();
  await expect(second.getByTestId("merge-done")).toBeVisible({ timeout: 120_000 });
  const { folderName, files } = await saveMergeToPickedFolder(second);
  expectSameAsCli(files, cliFiles);
  // The finished merge holds no journal any more: a later visit offers no Resume.
  expect([...(await readOpfsFolder(second, ["merges", folderName])).keys()]).not.toContain("merge-journal.json");
});

test("the start-up sweep keeps unfinished merges that have a journal, the newest per recipe, and removes the rest", async ({ context }) => {
  const first = await context.newPage();
  await openMergeApiPageOnStudio(first);
  // This page's sweep is done before the entries are made.
  await first.evaluate(() => (window as unknown as { __mergeStudio: { sweepOrphanedMergesOnce(): Promise<string[]> } }).__mergeStudio.sweepOrphanedMergesOnce());
  await first.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry("merges", { recursive: true }).catch(() => undefined);
    const merges = await root.getDirectoryHandle("merges", { create: true });
    const write = async (folder: string, path: string, text: string) => {
      const file = await (await (await merges.getDirectoryHandle(folder, { create: true })).getFileHandle(path, { create: true })).createWritable();
      await file.write(text);
      await file.close();
    };
    // As the merge worker writes it: a sequence number on the first line, then the journal.
    const journal = (alpha: number) =>
      "0\n" +
      JSON.stringify({
        format: "merge-studio-journal/1",
        created_at: "2026-01-01T00:00:00.000Z",
        identity: { recipe: { method: "task_arithmetic", parameters: { alpha } }, inputs: { target: { repo: "demo/a", revision: "0".repeat(40) } } },
        finished: {},
        checkpoint: null,
      });
    await write("older-merged", "merge-journal.json", journal(1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await write("newer-merged", "merge-journal.json", journal(1));
    await write("other-recipe-merged", "merge-journal.json", journal(0.5));
    await write("finished-merged", "model.safetensors", "weights");
    await write("unreadable-merged", "merge-journal.json", "0\n{ not a journal");
  });
  const second = await context.newPage();
  await openMergeApiPageOnStudio(second);
  const removed = await second.evaluate(() => (window as unknown as { __mergeStudio: { sweepOrphanedMergesOnce(): Promise<string[]> } }).__mergeStudio.sweepOrphanedMergesOnce());
  expect(removed.sort()).toEqual(["finished-merged", "older-merged", "unreadable-merged"]);
  const left = await second.evaluate(async () => {
    const merges = await (await navigator.storage.getDirectory()).getDirectoryHandle("merges");
    const names: string[] = [];
    for await (const name of (merges as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names.sort();
  });
  expect(left).toEqual(["newer-merged", "other-recipe-merged"]);
});
