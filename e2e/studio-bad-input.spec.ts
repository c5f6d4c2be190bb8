import { expect, test, type Page } from "@playwright/test";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { randomWords, writeTestModel, type TestTensor } from "../test/helpers/writeTestModel.ts";

// A case waits up to 30 s for a model card; the case itself gets room beyond that.
test.describe.configure({ timeout: 90_000 });

/** A tensor name that tries everything: a forged second line, an ANSI colour, HTML that would run script. */
const HOSTILE = 'x\nerror: nothing is wrong \u001b[31m<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
/** The name as every message must show it: one line, the controls escaped, the HTML as text. */
const HOSTILE_SHOWN = '"x\\nerror: nothing is wrong \\x1b[31m<script>window.__pwned = 1</script><img src=x onerror=\\"window.__pwned = 2\\">"';

const config = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: false, hidden_size: 4 };

function tensors(seed: number, hostile: { shape?: number[]; dtype?: string } = {}): TestTensor[] {
  const list: Array<[string, number[], string]> = [
    ["model.embed_tokens.weight", [10, 4], "BF16"],
    [HOSTILE, hostile.shape ?? [6, 4], hostile.dtype ?? "BF16"],
    ["lm_head.weight", [10, 4], "BF16"],
  ];
  return list.map(([name, shape, dtype], i) => {
    const count = shape[0]! * shape[1]!;
    const words = randomWords(seed * 100 + i, count);
    // Ordinary bf16 values (exponent near 1), so nothing but the names and the layout is odd.
    const data = new Uint8Array(new Uint16Array(Array.from(words, (word) => 0x3c00 | (word & 0x83ff))).buffer);
    return { name, dtype, shape, data };
  });
}

let root: string;
let hub: RunningHubServer;

test.beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "studio-bad-input-e2e-"));
  await writeTestModel(join(root, "alice/target"), tensors(1), { config });
  await writeTestModel(join(root, "alice/minus"), tensors(2), { config });
  // Unreadable: the hostile tensor's dtype is not a safetensors dtype.
  await writeTestModel(join(root, "alice/plus-broken"), tensors(3, { dtype: "Q4" }), { config });
  // Readable, but not mergeable: the hostile tensor has another shape than in the target.
  await writeTestModel(join(root, "alice/plus-reshaped"), tensors(4, { shape: [4, 6] }), { config });
  hub = await startHubServer({ root });
});

test.afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

/** The CLI's `merge --check` of a trio through the test Hub: its stderr lines (run as a child: the Hub lives in this process). */
async function cliCheck(trio: { target: string; plus: string; minus: string }): Promise<string[]> {
  const args = ["--import", "tsx", "src/cli/main.ts", "merge", "--check", "--hub-url", hub.url, "--target", trio.target, "--plus", trio.plus, "--minus", trio.minus];
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HF_TOKEN: "" } });
    let text = "";
    child.stderr.on("data", (chunk) => (text += chunk));
    child.on("error", reject);
    child.on("close", (code) => (code === 1 ? resolve(text) : reject(new Error(`the CLI check should fail with code 1, got ${code}:\n${text}`))));
  });
  return stderr.split("\n");
}

/** The one `error: ` line the CLI printed, without its prefix. */
function cliError(lines: string[]): string {
  const errors = lines.filter((line) => line.startsWith("error: "));
  expect(errors, lines.join("\n")).toHaveLength(1);
  return errors[0]!.slice("error: ".length);
}

async function expectNothingRan(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.locator('main script, main img[src="x"]').count()).toBe(0);
}

test("an unreadable model: its card and the compatibility report show the CLI's line, the hostile name as text", async ({ page }) => {
  const trio = { target: "alice/target", plus: "alice/plus-broken", minus: "alice/minus" };
  const expected = cliError(await cliCheck(trio));
  expect(expected).toMatch(/^plus \(alice\/plus-broken@[0-9a-f]{40}\): model\.safetensors: /);
  expect(expected).toContain(HOSTILE_SHOWN);

  await page.goto(`/?hub=${hub.url}&target=${trio.target}&plus=${trio.plus}&minus=${trio.minus}`);
  const card = page.getByTestId("model-card-plus").getByTestId("error");
  await expect(card).toBeVisible({ timeout: 30_000 });
  expect(await card.textContent()).toBe(expected);
  await expect(page.getByTestId("compat-report")).toContainText("Cannot check yet: the plus model could not be read.");
  expect(await page.getByTestId("compat-unreadable").getByRole("listitem").allTextContents()).toEqual([expected]);
  await expect(page.getByTestId("model-card-target").getByTestId("error")).toHaveCount(0);
  await expectNothingRan(page);
  await page.screenshot({ path: "test-results/screenshots/studio-bad-input-card.png", fullPage: true });
});

test("an incompatible trio: the compatibility report shows the CLI's problem line, the hostile name as text", async ({ page }) => {
  const trio = { target: "alice/target", plus: "alice/plus-reshaped", minus: "alice/minus" };
  const lines = await cliCheck(trio);
  const problem = cliError(lines).replace(/^cannot merge: /, "");
  expect(problem).toBe(`${HOSTILE_SHOWN}: shapes differ: target [6, 4], plus [4, 6], minus [6, 4]`);
  expect(lines).toContain(`✗ ${problem}`);

  await page.goto(`/?hub=${hub.url}&target=${trio.target}&plus=${trio.plus}&minus=${trio.minus}`);
  const report = page.getByTestId("compat-report");
  await expect(report).toHaveAttribute("data-verdict", "errors", { timeout: 30_000 });
  const problems = report.locator("div", { has: page.getByRole("heading", { name: "Problems" }) }).getByRole("listitem");
  expect(await problems.allTextContents()).toEqual([problem]);
  // The report's warnings are the CLI's "!" lines, word for word.
  const warnings = report.locator("div", { has: page.getByRole("heading", { name: "Warnings" }) }).getByRole("listitem");
  expect((await warnings.allTextContents()).map((warning) => `! ${warning}`)).toEqual(lines.filter((line) => line.startsWith("! ")));
  await expectNothingRan(page);
});
