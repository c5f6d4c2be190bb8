import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/runCli.ts";

const TOY_MODELS = fileURLToPath(new URL("../models/toy", import.meta.url));
const TOY_OWN_SET = fileURLToPath(new URL("../public/data/toy/toy-own.jsonl", import.meta.url));

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "cli-toy-demo-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("merge-studio demo and eval on the toy models", () => {
  it("demo --root writes the four toy repos with the committed weights, and eval --task toy-own runs on demo/Toy-Instruct by name", async () => {
    const root = join(scratch, "hub");
    const demo = await runCli(["demo", "--root", root]);
    expect(demo, demo.stderr).toMatchObject({ code: 0 });
    const manifest = JSON.parse(await readFile(join(TOY_MODELS, "toy-demo.json"), "utf8")) as { models: { name: string; file: string }[] };
    expect(manifest.models.map((model) => model.name).sort()).toEqual(["Toy-Base", "Toy-GRPO", "Toy-Instruct", "Toy-SFT"]);
    for (const model of manifest.models) {
      const written = await readFile(join(root, "demo", model.name, "model.safetensors"));
      expect(written.equals(await readFile(join(TOY_MODELS, model.file))), model.name).toBe(true);
    }

    const report = join(scratch, "report.json");
    const evaluation = await runCli(["eval", "--model", join(root, "demo", "Toy-Instruct"), "--task", "toy-own", "--problems", "4,0,9", "--format", "f32", "--json", report]);
    expect(evaluation.code, evaluation.stderr).toBe(0);
    expect(evaluation.stderr).toMatch(/^toy-own: 3 items \(4, 0, 9\), .*chat template on, max 16 new tokens/m);
    const written = JSON.parse(await readFile(report, "utf8")) as {
      task: { name: string; dataset: unknown; problemIndices: number[]; metrics: string[] };
      evaluator: { maxNewTokens: number; chatTemplate: boolean };
      models: { answers: { problemIndex: number; newTokens: number; stopReason: string }[] }[];
    };
    const sha256 = createHash("sha256").update(await readFile(TOY_OWN_SET)).digest("hex");
    expect(written.task).toMatchObject({ name: "toy-own", dataset: { kind: "file", name: "data/toy/toy-own.jsonl", sha256 }, problemIndices: [4, 0, 9], metrics: ["target-match"] });
    expect(written.evaluator).toMatchObject({ maxNewTokens: 16, chatTemplate: true });
    const answers = written.models[0]!.answers;
    expect(answers.map((answer) => answer.problemIndex)).toEqual([4, 0, 9]);
    // Each answer ends at <|im_end|> (eos) or after 16 new tokens.
    for (const answer of answers) expect(answer.stopReason === "eos" ? answer.newTokens <= 16 : answer.stopReason === "max_new_tokens" && answer.newTokens === 16).toBe(true);
    // The targets of lines 5, 1 and 10 of the shipped set are the reference column.
    const lines = (await readFile(TOY_OWN_SET, "utf8")).split("\n");
    for (const index of [4, 0, 9]) expect(evaluation.stdout).toMatch(new RegExp(`^#${index}\\s+${(JSON.parse(lines[index]!) as { target: string }).target}\\s`, "m"));
  }, 60_000);

  it("names the toy tasks in --task's choices", async () => {
    const result = await runCli(["eval", "--model", "x", "--task", "toy-nope"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("toy-reasoning | toy-own | PATH.jsonl | URL");
  });
});
