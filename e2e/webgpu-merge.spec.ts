import { expect, test, type Page } from "@playwright/test";
import { createHash } from "node:crypto";
import { DEMO_HUB_URL, DEMO_TRIO, demoTrioRecipe, mergeRecipeWithCli, mergeWithCli } from "./cliReference.ts";
import { openMergeApiPage, serveMergeApiPage } from "./mergeApiPage.ts";

type BackendInUse = { kind: "gpu"; adapter: string; software: boolean } | { kind: "cpu"; workers: number } | { kind: "calibrating" };
interface BackendReport {
  backend: BackendInUse;
  note?: string;
  fallback?: boolean;
}
/** The parts of src/ui/merge/browserMerge.ts these tests use, and the merge on a GPU lost mid-way, as e2e/merge-api-page.ts exposes them. */
interface MergeResult {
  folder: string;
  files: Record<string, { size: number; sha256: string }>;
  backend: BackendReport;
}
/** A recipe file's JSON (recipe-v2.md) and where its models come from. */
type MergeRequest = Omit<ReturnType<typeof demoTrioRecipe>, "recipe"> & {
  recipe: object;
  hubUrl: string;
  shardSize: number;
  backend: "auto" | "gpu" | "cpu";
};
interface MergeApi {
  startBrowserMerge(request: MergeRequest, onProgress: () => void, onBackend: (report: BackendReport) => void): { done: Promise<MergeResult> };
  mergeLosingGpu(request: MergeRequest, destroyGpuDeviceAfterSubmits: number, onBackend: (report: BackendReport) => void): Promise<MergeResult>;
  discardMerge(result: MergeResult): Promise<void>;
}

const SHOTS = "test-results/screenshots";
const RECIPE_FILE = "merge_recipe.json";
/**
 * Shards of 50 kB: the demo model's layers, which adjacent tensors would otherwise merge in one chunk
 * with the embeddings' last, take several chunks, so that "auto" has six to time the GPU and the CPU on.
 */
const SHARD_BYTES = 50_000;

const request = (
  backend: MergeRequest["backend"],
  extra: { alpha?: number; outDtype?: "BF16" | "F16" | "F32" } = {},
): MergeRequest => ({
  hubUrl: DEMO_HUB_URL,
  ...demoTrioRecipe(extra.alpha ?? 1, extra.outDtype),
  shardSize: SHARD_BYTES,
  backend,
});

/** Merges in the page; returns the result (with each file's size and SHA-256 as written to OPFS) and every backend report, then frees the OPFS folder. */
function mergeInPage(page: Page, mergeRequest: MergeRequest): Promise<{ result: MergeResult; reports: BackendReport[] }> {
  return page.evaluate(async (mergeRequest) => {
    const api = (window as unknown as { __mergeStudio: MergeApi }).__mergeStudio;
    const reports: BackendReport[] = [];
    const result = await api.startBrowserMerge(mergeRequest, () => undefined, (report) => reports.push(report)).done;
    await api.discardMerge(result);
    return { result, reports };
  }, mergeRequest);
}

/** As mergeInPage, with a GPU device that destroys itself right after its `afterSubmits`-th queue submit. */
function mergeLosingGpuInPage(page: Page, mergeRequest: MergeRequest, afterSubmits: number): Promise<{ result: MergeResult; reports: BackendReport[] }> {
  return page.evaluate(
    async ({ mergeRequest, afterSubmits }) => {
      const api = (window as unknown as { __mergeStudio: MergeApi }).__mergeStudio;
      const reports: BackendReport[] = [];
      const result = await api.mergeLosingGpu(mergeRequest, afterSubmits, (report) => reports.push(report));
      await api.discardMerge(result);
      return { result, reports };
    },
    { mergeRequest, afterSubmits },
  );
}

/**
 * A 2-vector recipe of `method` on the toy models (200,704 parameters each: a light case, as
 * SwiftShader computes a TIES recipe's emulated float arithmetic at a few microseconds per element):
 * a layer gradient, densities below 1, the second vector another pair.
 */
function twoVectorRecipe(method: "ties" | "dare_ties"): MergeRequest {
  const [base, target, sft, grpo] = ["demo/Toy-Base", "demo/Toy-Instruct", "demo/Toy-SFT", "demo/Toy-GRPO"];
  return {
    hubUrl: DEMO_HUB_URL,
    recipe: {
      target,
      method,
      parameters: { normalize: method === "ties", rescale: true, density: 0.5, gamma: 0.01, seed: 11 },
      vectors: [
        { plus: grpo, minus: sft, weight: [0.5, 1] },
        { plus: sft, minus: base, weight: 0.3, density: 0.7 },
      ],
      vocab: "exact",
    },
    inputs: Object.fromEntries([base, target, sft, grpo].map((repo) => [repo, { kind: "hub", repo }])),
    shardSize: SHARD_BYTES,
    backend: "gpu",
  };
}

/** Sizes and SHA-256 of every file but the recipe, whose created_at differs from run to run. */
const fingerprints = (files: Record<string, { size: number; sha256: string }>) =>
  Object.fromEntries(Object.entries(files).filter(([path]) => path !== RECIPE_FILE).map(([path, file]) => [path, `${file.size} ${file.sha256}`]));

/** The fingerprints of a folder the CLI wrote. */
const cliFileFingerprints = (files: Map<string, Buffer>) =>
  fingerprints(Object.fromEntries([...files].map(([path, bytes]) => [path, { size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") }])));

let cliFingerprints: Record<string, string>;
let mergeApiPage: { url: string; close(): Promise<void> };

test.describe.configure({ timeout: 180_000 });

test.beforeAll(async () => {
  cliFingerprints = cliFileFingerprints(await mergeWithCli(["--shard-size", String(SHARD_BYTES)]));
  mergeApiPage = await serveMergeApiPage();
});

test.afterAll(async () => {
  await mergeApiPage?.close();
});

test.beforeEach(async ({ page }) => {
  await openMergeApiPage(page, mergeApiPage.url);
});

test("the demo trio merged on the GPU and on the CPU: identical folders, the CLI's bytes", async ({ page }) => {
  const onGpu = await mergeInPage(page, request("gpu"));
  expect(onGpu.result.backend.backend.kind).toBe("gpu");
  expect(onGpu.result.backend.fallback).toBeUndefined();
  expect(onGpu.reports.map((report) => report.backend.kind)).toEqual(["gpu"]);
  const onCpu = await mergeInPage(page, request("cpu"));
  expect(onCpu.result.backend.backend.kind).toBe("cpu");

  expect(fingerprints(onGpu.result.files)).toEqual(cliFingerprints);
  expect(fingerprints(onCpu.result.files)).toEqual(cliFingerprints);
  expect(Object.keys(onGpu.result.files).sort()).toEqual(Object.keys(onCpu.result.files).sort());
});

test.describe("2-vector recipes on the GPU", () => {
  // Three times in about a dozen runs of these files here, and once in CI, the first ties merge
  // after the demo-trio test stopped for good. Logged here: at a shard boundary, the GPU having
  // answered every dispatch; the merge worker's last step was writing a finished chunk into its
  // OPFS shard before opening the next file, and nothing was read from the Hub again. The same
  // merge on a fresh page took 20 s, and no other test stopped so. One retry, on a fresh page,
  // tells such a stall from a merge that fails every time; its cause in the browser is still open.
  test.describe.configure({ retries: 1 });

  for (const method of ["ties", "dare_ties"] as const) {
    test(`a 2-vector ${method} recipe merged on the GPU (its recipe kernel), on the CPU and on a GPU lost mid-way: the bytes of the CLI's merge --config`, async ({ page }) => {
      const gpuRequest = twoVectorRecipe(method);
      const cliFiles = await mergeRecipeWithCli(gpuRequest.recipe, ["--shard-size", String(SHARD_BYTES)]);
      const cli = cliFileFingerprints(cliFiles);
      // The method matters: the same vectors added by task arithmetic give other bytes.
      const taskArithmetic = await mergeRecipeWithCli({ ...gpuRequest.recipe, method: "task_arithmetic" }, ["--shard-size", String(SHARD_BYTES)]);
      expect(cliFileFingerprints(taskArithmetic)).not.toEqual(cli);
      const onGpu = await mergeInPage(page, gpuRequest);
      // The whole reports, so that a fallback's note (what the GPU failed on) shows in a failure.
      expect(onGpu.reports).toEqual([{ backend: expect.objectContaining({ kind: "gpu" }) }]);
      expect(fingerprints(onGpu.result.files)).toEqual(cli);
      const onCpu = await mergeInPage(page, { ...gpuRequest, backend: "cpu" });
      expect(onCpu.result.backend.backend.kind).toBe("cpu");
      expect(fingerprints(onCpu.result.files)).toEqual(cli);
      // Lost after its third submit: the recipe's chunks reached the GPU, and the rest ran on the CPU.
      const losingGpu = await mergeLosingGpuInPage(page, gpuRequest, 3);
      expect(losingGpu.reports.map((report) => report.backend.kind)).toEqual(["gpu", "cpu"]);
      expect(losingGpu.result.backend.fallback).toBe(true);
      expect(fingerprints(losingGpu.result.files)).toEqual(cli);
    });
  }
});

test("to float16 at alpha -0.3 the GPU and the CPU write identical folders", async ({ page }) => {
  const onGpu = await mergeInPage(page, request("gpu", { outDtype: "F16", alpha: -0.3 }));
  const onCpu = await mergeInPage(page, request("cpu", { outDtype: "F16", alpha: -0.3 }));
  expect(onGpu.result.backend.backend.kind).toBe("gpu");
  expect(fingerprints(onGpu.result.files)).toEqual(fingerprints(onCpu.result.files));
  expect(fingerprints(onGpu.result.files)).not.toEqual(cliFingerprints);
});

test("a GPU device lost mid-merge: the rest runs on the CPU, with a notice, and the bytes are the CLI's", async ({ page }) => {
  const { result, reports } = await mergeLosingGpuInPage(page, request("gpu"), 3);
  expect(reports.map((report) => report.backend.kind)).toEqual(["gpu", "cpu"]);
  expect(result.backend.backend.kind).toBe("cpu");
  expect(result.backend.fallback).toBe(true);
  expect(result.backend.note).toMatch(/GPU failed mid-merge \(the GPU device was lost/);
  expect(fingerprints(result.files)).toEqual(cliFingerprints);
});

test("auto times the GPU against the CPU on the first chunks, then keeps one, with the same bytes", async ({ page }) => {
  const { result, reports } = await mergeInPage(page, request("auto"));
  expect(reports[0]!.backend.kind).toBe("calibrating");
  expect(reports).toHaveLength(2);
  expect(reports[1]!.note).toMatch(/^Auto chose the (GPU|CPU): on the first chunks the GPU computed [\d.]+ GB\/s, the CPU [\d.]+ GB\/s\.$/);
  expect(result.backend).toEqual(reports[1]);
  expect(fingerprints(result.files)).toEqual(cliFingerprints);
});

test("the backend setting goes into the link, and the merge panel shows the backend in use", async ({ page }) => {
  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1&backend=gpu`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const select = page.getByTestId("backend-select");
  await expect(select).toHaveValue("gpu");

  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-backend")).toHaveText("GPU: google swiftshader (software)");
  await page.getByRole("heading", { name: "Merge", exact: true }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/merge-backend-gpu-running.png` });
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId("merge-done").getByTestId("merge-backend")).toHaveText("GPU: google swiftshader (software)");
  await expect(page.getByTestId("merge-backend-notice")).toHaveCount(0);
  await page.getByTestId("merge-done").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/merge-backend-gpu-done.png`, fullPage: true });

  await select.selectOption("cpu");
  await expect(page).toHaveURL(/[?&]backend=cpu(&|$)/);
  await expect(page.getByTestId("merge-done")).toBeVisible();
  await select.selectOption("auto");
  await expect(page).not.toHaveURL(/backend=/);
});

test("a link with an unknown backend says so and uses auto", async ({ page }) => {
  await page.goto(`/?hub=${DEMO_HUB_URL}&backend=tpu`);
  await expect(page.getByTestId("error")).toContainText('The link\'s backend “tpu” was ignored: use "auto", "gpu", "cpu".');
  await expect(page.getByTestId("backend-select")).toHaveValue("auto");
});
