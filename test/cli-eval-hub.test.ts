import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

let root: string;
const repos = { target: "lab/small-instruct", plus: "lab/small-grpo", minus: "lab/small-sft" };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cli-eval-hub-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of ["target", "plus", "minus"] as const) {
    await generateQwen2Model({ dir: join(root, "hub", repos[role]), shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 4, variantSeed: variants[role], tokenizer: true });
  }
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("merge-studio eval through the Hub", () => {
  it("prints the rate-limit waits as merge does, and evaluates the target and the merge once the quota resets", async () => {
    // A quota far below what opening three repos and reading their weights and tokenizers takes.
    const hub = await startHubServer({ root: join(root, "hub"), cdn: {}, resolveCache: true, rateLimit: { quota: 4, windowSeconds: 2 } });
    try {
      const json = join(root, "report.json");
      const args = ["eval", "--hub-url", hub.url, "--target", repos.target, "--plus", repos.plus, "--minus", repos.minus, "--alpha", "1"];
      const result = await runCli([...args, "--problems", "5", "--max-new-tokens", "2", "--batch", "1", "--json", json], { HF_TOKEN: "" });
      expect(result.stderr).not.toMatch(/^error/m);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^rate-limited by the Hub, resuming in [1-4] s \(a Hugging Face token raises the quota\)$/m);
      const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
      expect(report.models.map((model) => [model.label, model.alpha, model.answers.map((answer) => answer.problemIndex)])).toEqual([
        ["target", null, [5]],
        ["alpha 1", 1, [5]],
      ]);
    } finally {
      await hub.close();
    }
  }, 120_000);
});
