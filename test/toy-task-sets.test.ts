import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEvalTask, describeEvaluatedTask } from "../src/eval/tasks/createEvalTask.ts";
import type { EvalTask } from "../src/eval/tasks/EvalTask.ts";
import { TOY_TASK_MAX_NEW_TOKENS, TOY_TASK_SET_LINES, TOY_TASK_SET_NAMES, type ToyTaskSetName } from "../src/eval/tasks/toyTaskSets.ts";
import { loadTokenizer, type EvalTokenizer } from "../src/eval/tokenizer/loadTokenizer.ts";
import { TOY_TASK_NAMES } from "../src/testmodels/training/toyTasks.ts";
import { encodeToyText, toyChatPrompt } from "../src/testmodels/training/toyTokenizer.ts";
import { TOY_SHAPE } from "../src/testmodels/training/toyShape.ts";
import { writeToyModelFiles } from "../src/testmodels/training/writeToyModelFiles.ts";

const TOY_DATA = fileURLToPath(new URL("../public/data/toy", import.meta.url));
const setBytes = async (name: string) => new Uint8Array(await readFile(join(TOY_DATA, `${name}.jsonl`)));
/** The set's lines as plain JSON, read here without the project's parser. */
const setLines = async (name: string) =>
  (await readFile(join(TOY_DATA, `${name}.jsonl`), "utf8"))
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { prompt: string; target: string });
const toyTask = async (name: ToyTaskSetName, selection: { count: number; seed: number } | { ids: number[] }) =>
  createEvalTask({ kind: "toy", name, bytes: await setBytes(name), selection }, []);

describe("the evaluator's table of toy tasks", () => {
  it("lists exactly the trainer's toy tasks that have a held-out set in public/data/toy", async () => {
    const shipped = TOY_TASK_NAMES.filter((name) => existsSync(join(TOY_DATA, `${name}.jsonl`)));
    expect([...TOY_TASK_SET_NAMES].sort()).toEqual([...shipped].sort());
    const files = (await readdir(TOY_DATA)).filter((file) => file.endsWith(".jsonl"));
    expect(files.sort()).toEqual(shipped.map((name) => `${name}.jsonl`).sort());
    for (const name of shipped) expect(await setLines(name), name).toHaveLength(TOY_TASK_SET_LINES);
  });
});

describe("a toy task by name", () => {
  let tokenizer: EvalTokenizer;
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "toy-task-sets-"));
    await writeToyModelFiles(folder, TOY_SHAPE);
    const read = (file: string) => readFile(join(folder, file), "utf8");
    tokenizer = loadTokenizer({ tokenizerJson: await read("tokenizer.json"), tokenizerConfig: await read("tokenizer_config.json"), generationConfig: await read("generation_config.json") });
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("prompts each problem through the chat template with exactly the token ids the toy models were trained on", async () => {
    for (const name of TOY_TASK_SET_NAMES) {
      const lines = await setLines(name);
      const task = await toyTask(name, { count: 50, seed: 7 });
      expect(task.items).toHaveLength(50);
      for (const item of task.items) {
        const ids = tokenizer.encode(task.renderPrompt(item, { chatTemplate: tokenizer.chatTemplate }));
        expect(ids, `${name} line ${item.index + 1}`).toEqual(encodeToyText(toyChatPrompt(lines[item.index]!.prompt)));
      }
    }
    // The answer ends the turn: generation stops at <|im_end|>, the toy tokenizer's eos.
    expect(tokenizer.stopTokenIds).toContain(encodeToyText("<|im_end|>")[0]);
  });

  it("records its name and the set's SHA-256 in the report, with 16 new tokens by default and no stop sequences", async () => {
    const task = await toyTask("toy-own", { ids: [3, 1] });
    const sha256 = createHash("sha256").update(await setBytes("toy-own")).digest("hex");
    expect(describeEvaluatedTask(task, null)).toEqual({
      name: "toy-own",
      promptFormat: task.promptFormat,
      fewShot: 0,
      dataset: { kind: "file", name: "data/toy/toy-own.jsonl", sha256 },
      problemIndices: [3, 1],
      sampleSeed: null,
      metrics: ["target-match"],
    });
    expect(task.defaultMaxNewTokens).toBe(TOY_TASK_MAX_NEW_TOKENS);
    expect(TOY_TASK_MAX_NEW_TOKENS).toBe(16);
    expect(task.stopSequences).toEqual([]);
  });

  it("scores by exact match of the trimmed output with the line's target", async () => {
    const lines = await setLines("toy-reasoning");
    const task = (await toyTask("toy-reasoning", { ids: [0] })) as EvalTask;
    const [item] = task.items;
    const target = lines[0]!.target;
    expect(task.reference(item!)).toBe(target);
    expect(task.metrics[0]!.score(`${target}\n`, item!)).toEqual({ extracted: target, correct: true });
    expect(task.metrics[0]!.score(`${target}0`, item!).correct).toBe(false);
    expect(task.metrics[0]!.score(target.slice(1), item!).correct).toBe(false);
  });

  it("answers a seeded sample of its lines, or the lines picked, and says when a pick is not in the set", async () => {
    const first = await toyTask("toy-reasoning", { count: 20, seed: 2509 });
    const again = await toyTask("toy-reasoning", { count: 20, seed: 2509 });
    const indices = first.items.map((item) => item.index);
    expect(again.items.map((item) => item.index)).toEqual(indices);
    expect(new Set(indices).size).toBe(20);
    expect(indices).toEqual([...indices].sort((a, b) => a - b));
    expect(indices.every((index) => index >= 0 && index < 500)).toBe(true);
    await expect(toyTask("toy-own", { ids: [500] })).rejects.toThrow("no toy-own problem has id 500");
    await expect(toyTask("toy-own", { ids: [2, 2] })).rejects.toThrow("toy-own problem 2 is chosen twice");
    await expect(toyTask("toy-own", { count: 501, seed: 0 })).rejects.toThrow("cannot sample 501 problems from 500");
  });

  it("refuses a set that is not prompt/target lines of exact match, naming the line", async () => {
    const bytes = new TextEncoder().encode('{"prompt": "rev 12", "target": "21"}\n{"question": "1+1?", "answer": 2}\n');
    await expect(createEvalTask({ kind: "toy", name: "toy-own", bytes, selection: { ids: [0] } }, [])).rejects.toThrow(/data\/toy\/toy-own\.jsonl/);
    const regex = new TextEncoder().encode('{"prompt": "rev 12", "target": "2.", "match": "regex"}\n');
    await expect(createEvalTask({ kind: "toy", name: "toy-own", bytes: regex, selection: { ids: [0] } }, [])).rejects.toThrow('data/toy/toy-own.jsonl: line 1 is not a {"prompt", "target"} line of exact match');
  });
});
