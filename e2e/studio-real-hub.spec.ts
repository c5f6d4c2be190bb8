import { expect, test } from "@playwright/test";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { writeDemoHub } from "../src/testmodels/writeDemoHub.ts";
import { TOY_MODELS_FOLDER } from "./toyModelsFolder.ts";
import { DEMO_TRIO, expectSameAsCli } from "./cliReference.ts";
import { listOpfsMerges, saveMergeToPickedFolder } from "./readOpfsFolder.ts";

let root: string;
let hub: RunningHubServer;
let cliFiles: Map<string, Buffer>;

test.describe.configure({ timeout: 180_000 });

/** The CLI's merge of the demo trio through `hubUrl`, run as a child process (the Hub server lives in this one). */
async function mergeWithCliThrough(hubUrl: string): Promise<Map<string, Buffer>> {
  const out = join(root, "cli-merged");
  const { target, plus, minus } = DEMO_TRIO;
  const args = ["--import", "tsx", "src/cli/main.ts", "merge", "--hub-url", hubUrl, "--target", target, "--plus", plus, "--minus", minus, "--alpha", "1", "--out", out];
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HF_TOKEN: "" } });
    let text = "";
    child.stderr.on("data", (chunk) => (text += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`the CLI merge failed (${code}):\n${text}`))));
  });
  expect(stderr).not.toContain("error");
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(out, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.set(relative(out, join(entry.parentPath, entry.name)), await readFile(join(entry.parentPath, entry.name)));
  }
  return files;
}

test.beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "studio-real-hub-e2e-"));
  await writeDemoHub(join(root, "hub"), TOY_MODELS_FOLDER);
  // What huggingface.co does, at test scale: LFS files 302 to a CDN origin with URLs that expire after 2 s,
  // small files 307 to resolve-cache, a quota of 4 resolver requests per 2 s, trees in pages of 3.
  hub = await startHubServer({
    root: join(root, "hub"),
    cdn: { urlTtlSeconds: 2 },
    resolveCache: true,
    rateLimit: { quota: 4, windowSeconds: 2 },
    treePageSize: 3,
    hideRepos: true,
    caseInsensitiveIds: true,
  });
  cliFiles = await mergeWithCliThrough(hub.url);
});

test.afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

test("the studio merges through a Hub that redirects to an expiring CDN and rate-limits, with the CLI's bytes", async ({ page }) => {
  await page.addInitScript(() => {
    Object.assign(window, {
      showDirectoryPicker: async () => (await navigator.storage.getDirectory()).getDirectoryHandle("picked", { create: true }),
    });
  });
  await page.goto(`/?hub=${hub.url}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ["merges", "picked"]) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  });
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 60_000 });
  const before = hub.requestCounts();
  await page.getByTestId("merge-button").click();
  const waiting = page.getByTestId("merge-hub-status");
  await expect(waiting).toBeVisible({ timeout: 60_000 });
  await expect(waiting).toHaveText(/^rate-limited by the Hub, resuming in \d+ s \(a Hugging Face token raises the quota\)$/);
  await page.screenshot({ path: "test-results/screenshots/studio-rate-limited.png", fullPage: true });
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 150_000 });
  await expect(page.getByTestId("error")).toHaveCount(0);

  const after = hub.requestCounts();
  // The browser followed the 302s to the CDN itself (CORS on both origins), and never sent it a token.
  expect(after.cdn - before.cdn).toBeGreaterThan(10);
  expect(after.cdnWithAuthorization).toBe(0);
  expect(after.rateLimited).toBeGreaterThan(0);

  expectSameAsCli((await saveMergeToPickedFolder(page)).files, cliFiles);
});

test("Cancel ends a merge that waits on the Hub's rate limit at once, leaving no output", async ({ page }) => {
  const spent = await startHubServer({ root: join(root, "hub"), cdn: {}, resolveCache: true, rateLimit: { quota: 40, windowSeconds: 120 } });
  try {
    await page.goto(`/?hub=${spent.url}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
    await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 60_000 });
    // Someone else (the same anonymous client, as the Hub sees it) spends what is left of the quota.
    while ((await fetch(`${spent.url}/${DEMO_TRIO.target}/resolve/main/config.json`, { redirect: "manual" })).status !== 429);
    await page.getByTestId("merge-button").click();
    await expect(page.getByTestId("merge-hub-status")).toHaveText(/^rate-limited by the Hub, resuming in (1[01]\d|\d\d) s/, { timeout: 30_000 });
    const cancelledAt = Date.now();
    await page.getByTestId("merge-cancel").click();
    await expect(page.getByText("The merge was cancelled; nothing was kept.")).toBeVisible();
    expect(Date.now() - cancelledAt).toBeLessThan(5000);
    await expect(page.getByTestId("merge-hub-status")).toHaveCount(0);
    await expect.poll(() => listOpfsMerges(page)).toEqual([]);
  } finally {
    await spent.close();
  }
});

test("a model card says when reading a Hub model's headers waits on the rate limit, then shows the model", async ({ page }) => {
  const spent = await startHubServer({ root: join(root, "hub"), cdn: {}, resolveCache: true, rateLimit: { quota: 30, windowSeconds: 6 } });
  try {
    // Someone else (the same anonymous client, as the Hub sees it) spends the quota of this window.
    while ((await fetch(`${spent.url}/${DEMO_TRIO.target}/resolve/main/config.json`, { redirect: "manual" })).status !== 429);
    await page.goto(`/?hub=${spent.url}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
    const card = page.getByTestId("model-card-target");
    const waiting = card.getByTestId("model-hub-status");
    await expect(waiting).toHaveText(/^rate-limited by the Hub, resuming in [1-7] s \(a Hugging Face token raises the quota\)$/, { timeout: 30_000 });
    await expect(card).toHaveAttribute("aria-busy", "true");
    await page.screenshot({ path: "test-results/screenshots/studio-card-rate-limited.png", fullPage: true });
    await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 60_000 });
    await expect(card).toHaveAttribute("aria-busy", "false");
    await expect(card.getByTestId("model-name")).toContainText(DEMO_TRIO.target);
    await expect(page.getByTestId("model-hub-status")).toHaveCount(0);
    expect(spent.requestCounts().rateLimited).toBeGreaterThan(1);
  } finally {
    await spent.close();
  }
});
