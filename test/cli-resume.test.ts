import { spawn } from "node:child_process";
import { appendFile, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import { parseByteSize } from "../src/core/safetensors/planShards.ts";
import { TOOL_VERSION } from "../src/core/version.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const repos = { target: "lab/tiny-instruct", plus: "lab/tiny-grpo", minus: "lab/tiny-sft" };
/** Several shards and several checkpoints per shard for the tiny test model (about 100 KB). */
const SHARD_SIZE = "20KB";
const CHECKPOINT_EVERY = "3KB";

let root: string;
/** A Hub slow enough (every answer delayed) that a merge can be killed at a chosen moment. */
let slowHub: RunningHubServer;
let fastHub: RunningHubServer;
let reference: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cli-resume-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of ["target", "plus", "minus"] as const) {
    await generateQwen2Model({ dir: join(root, "hub", repos[role]), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 7, variantSeed: variants[role] });
    await cp(join(root, "hub", repos[role]), join(root, "local", role), { recursive: true });
  }
  await generateQwen2Model({ dir: join(root, "hub", "lab/tiny-other"), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 7, variantSeed: 3 });
  slowHub = await startHubServer({ root: join(root, "hub"), port: 0, faults: { delayMs: 40 } });
  fastHub = await startHubServer({ root: join(root, "hub"), port: 0 });
  reference = join(root, "reference");
  const result = await runCli(mergeArgs(fastHub.url, reference));
  expect(result.code, result.stderr).toBe(0);
  expect((await readdir(reference)).filter((name) => name.endsWith(".safetensors")).length).toBeGreaterThanOrEqual(3);
}, 60_000);
afterAll(async () => {
  await slowHub.close();
  await fastHub.close();
  await rm(root, { recursive: true, force: true });
});

function mergeArgs(hubUrl: string, out: string, overrides: Record<string, string> = {}): string[] {
  const options: Record<string, string> = { "--hub-url": hubUrl, "--target": repos.target, "--plus": repos.plus, "--minus": repos.minus, "--alpha": "-1", "--shard-size": SHARD_SIZE, "--checkpoint-every": CHECKPOINT_EVERY, "--out": out, ...overrides };
  return ["merge", ...Object.entries(options).flat()];
}

interface JournalView {
  created_at: string;
  finished: Record<string, { size: number; sha256: string }>;
  checkpoint: { file: string; size: number; sha256: string } | null;
}

/**
 * Runs the real CLI through the slow Hub, polls OUT.partial/merge-journal.json, and kills the
 * process with SIGKILL as soon as `when` holds for the journal. Returns the journal seen then.
 */
async function mergeAndKill(out: string, when: (journal: JournalView) => boolean, signal: NodeJS.Signals = "SIGKILL"): Promise<{ journal: JournalView; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...mergeArgs(slowHub.url, out)], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  // "close": the process has exited and its stderr is read to the end.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const journalPath = join(`${out}.partial`, "merge-journal.json");
  for (;;) {
    if (exitCode !== undefined) throw new Error(`the merge ended (code ${exitCode}) before the moment to kill it came:\n${stderr}`);
    const text = await readFile(journalPath, "utf8").catch(() => undefined);
    const journal = text === undefined ? undefined : (JSON.parse(text) as JournalView);
    if (journal && when(journal)) {
      child.kill(signal);
      const code = await exited;
      return { journal, code, stderr };
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.set(relative(dir, join(entry.parentPath, entry.name)), await readFile(join(entry.parentPath, entry.name)));
  }
  return files;
}

/** Every file byte for byte as in the uninterrupted merge; merge_recipe.json differs only in created_at (when each merge began). */
async function expectSameAsReference(out: string, createdAt: string): Promise<void> {
  const [want, got] = [await filesOf(reference), await filesOf(out)];
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, bytes] of want) {
    if (name === "merge_recipe.json") continue;
    expect(got.get(name)!.equals(bytes), name).toBe(true);
  }
  const recipe = JSON.parse(got.get("merge_recipe.json")!.toString("utf8"));
  expect(recipe.created_at).toBe(createdAt);
  expect({ ...recipe, created_at: undefined }).toEqual({ ...JSON.parse(want.get("merge_recipe.json")!.toString("utf8")), created_at: undefined });
}

const exists = (path: string) => stat(path).then(() => true, () => false);
const shardNames = async () => (await readdir(reference)).filter((name) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(name)).sort();

describe("merge --resume after kill -9 gives the bytes of an uninterrupted merge", () => {
  const points: [string, (journal: JournalView) => boolean][] = [
    ["early: journal written, nothing finished", () => true],
    ["mid-shard: a checkpoint inside the second shard", (journal) => Object.keys(journal.finished).length === 1 && journal.checkpoint !== null],
    ["between shards: two shards finished, no checkpoint in the third yet", (journal) => Object.keys(journal.finished).length === 2 && journal.checkpoint === null],
  ];
  for (const [name, when] of points) {
    it(name, async () => {
      const out = join(root, `killed-${points.findIndex(([other]) => other === name)}`);
      const { journal: seen } = await mergeAndKill(out, when);
      expect(await exists(out)).toBe(false);
      expect(await exists(join(`${out}.partial`, "merge-journal.json"))).toBe(true);
      const last = JSON.parse(await readFile(join(`${out}.partial`, "merge-journal.json"), "utf8")) as JournalView;
      if (last.checkpoint) {
        // Whatever follows the last checkpoint is dropped on resume: make sure there is something to drop.
        await appendFile(join(`${out}.partial`, last.checkpoint.file), Buffer.from("bytes written after the checkpoint"));
      }
      const resumed = await runCli([...mergeArgs(fastHub.url, out), "--resume"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/resuming .*\.partial: \d+ finished shard\(s\) verified/);
      if (last.checkpoint) expect(resumed.stderr).toContain(`${last.checkpoint.file} continued from its last checkpoint`);
      expect(await exists(`${out}.partial`)).toBe(false);
      await expectSameAsReference(out, seen.created_at);
    }, 60_000);
  }
});

it("Ctrl-C keeps the unfinished merge and says how to resume it", async () => {
  const out = join(root, "interrupted");
  const { code, stderr, journal } = await mergeAndKill(out, (seen) => Object.keys(seen.finished).length >= 1, "SIGINT");
  expect(code).toBe(130);
  expect(stderr).toMatch(/error: interrupted by SIGINT; the unfinished merge is kept in .*interrupted\.partial: run the same command with --resume to continue it$/m);
  const resumed = await runCli([...mergeArgs(fastHub.url, out), "--resume"]);
  expect(resumed.code, resumed.stderr).toBe(0);
  await expectSameAsReference(out, journal.created_at);
}, 60_000);

describe("merge --resume refuses what it cannot trust, and keeps the unfinished merge", () => {
  let out: string;
  beforeAll(async () => {
    out = join(root, "refused");
    await mergeAndKill(out, (journal) => Object.keys(journal.finished).length >= 1);
  }, 60_000);

  it("another alpha, or another input, is refused with what differs", async () => {
    const alpha = await runCli([...mergeArgs(fastHub.url, out, { "--alpha": "-0.5" }), "--resume"]);
    expect(alpha.code).toBe(1);
    expect(alpha.stderr).toMatch(/error: cannot resume .*refused\.partial: the unfinished merge was started with another recipe or other inputs: recipe\.recipe\.vectors\[0\]\.weight: -1 in the journal, -0\.5 now/);
    const plus = await runCli([...mergeArgs(fastHub.url, out, { "--plus": "lab/tiny-other" }), "--resume"]);
    expect(plus.code).toBe(1);
    expect(plus.stderr).toMatch(/inputs\.plus\.repo: "lab\/tiny-grpo" in the journal, "lab\/tiny-other" now/);
    expect(await exists(join(`${out}.partial`, "merge-journal.json"))).toBe(true);
  });

  it("a corrupted finished shard is refused, naming the file", async () => {
    const first = join(`${out}.partial`, (await shardNames())[0]!);
    const bytes = await readFile(first);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(first, bytes);
    const result = await runCli([...mergeArgs(fastHub.url, out), "--resume"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: cannot resume .*: .*model-00001-of-\d{5}\.safetensors: its bytes do not match the SHA-256 recorded in the journal/);
    expect(await exists(first)).toBe(true);
    // Without --resume the unfinished merge is removed, as before, and the message says how to keep it.
    const fresh = await runCli(mergeArgs(fastHub.url, out));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toMatch(/removing the unfinished merge in .*refused\.partial and starting again \(pass --resume to continue it instead\)/);
  });
});

describe("merge --resume of local folders", () => {
  const local = (role: string) => join(root, "local", role);
  const localArgs = (out: string) => ["merge", "--target", local("target"), "--plus", local("plus"), "--minus", local("minus"), "--alpha", "-1", "--shard-size", SHARD_SIZE, "--out", out];

  /** An unfinished merge as Ctrl-C leaves it: the core API stopped by an abort after a few chunks. */
  async function interruptedMerge(out: string): Promise<void> {
    const sources = { target: await openFolderSource(local("target")), plus: await openFolderSource(local("plus")), minus: await openFolderSource(local("minus")) };
    const models = { target: await inspectModel(sources.target), plus: await inspectModel(sources.plus), minus: await inspectModel(sources.minus) };
    const plan = planOneVector(models, -1);
    const controller = new AbortController();
    let chunks = 0;
    const merge = writeMergedModel(plan, await openNodeFolderSink(out), {
      shardSize: parseByteSize(SHARD_SIZE),
      checkpointBytes: 1000,
      toolVersion: TOOL_VERSION,
      journal: "start",
      signal: controller.signal,
      onProgress: () => {
        if (++chunks === 12) controller.abort(new Error("interrupted"));
      },
    });
    await expect(merge).rejects.toThrow("interrupted");
    await Promise.all(Object.values(sources).map((source) => source.close?.()));
  }

  it("an input file changed since is refused, naming the input and the file; unchanged, the merge resumes", async () => {
    const out = join(root, "local-out");
    await interruptedMerge(out);
    const journal = JSON.parse(await readFile(join(`${out}.partial`, "merge-journal.json"), "utf8")) as JournalView;
    expect(Object.keys(journal.finished).length + (journal.checkpoint ? 1 : 0)).toBeGreaterThan(0);

    const weights = join(local("plus"), "model.safetensors");
    const original = await readFile(weights);
    const edited = Buffer.from(original);
    edited[edited.length - 2]! ^= 0x40;
    await writeFile(weights, edited);
    try {
      const refused = await runCli([...localArgs(out), "--resume"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/error: cannot resume .*: .*inputs\.plus\.files\["model\.safetensors"\]\.tail_sha256: "[0-9a-f]{64}" in the journal, "[0-9a-f]{64}" now/);
    } finally {
      await writeFile(weights, original);
    }
    const resumed = await runCli([...localArgs(out), "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const uninterrupted = join(root, "local-reference");
    expect((await runCli(localArgs(uninterrupted))).code).toBe(0);
    const [want, got] = [await filesOf(uninterrupted), await filesOf(out)];
    for (const [name, bytes] of want) if (name !== "merge_recipe.json") expect(got.get(name)?.equals(bytes), name).toBe(true);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  });

  it("--resume with nothing to resume starts from the beginning and says so", async () => {
    const out = join(root, "nothing-to-resume");
    const result = await runCli([...localArgs(out), "--resume"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/nothing to resume: no .*nothing-to-resume\.partial; starting the merge from the beginning/);
    expect(await exists(join(out, "merge-journal.json"))).toBe(false);
  });
});
