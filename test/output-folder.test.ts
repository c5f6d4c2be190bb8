import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireFolderLock } from "../src/core/node/acquireFolderLock.ts";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import type { MergePlan } from "../src/core/plan/planMerge.ts";
import { parseByteSize } from "../src/core/safetensors/planShards.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { TOOL_VERSION } from "../src/core/version.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { runCli } from "./helpers/runCli.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const repos = { target: "lab/tiny-instruct", plus: "lab/tiny-grpo", minus: "lab/tiny-sft" };
const SHARD_SIZE = "20KB";

let root: string;
/** A Hub slow enough (every answer delayed) that a merge is still running when the test acts on it. */
let slowHub: RunningHubServer;
let fastHub: RunningHubServer;
let reference: string;
const local = (role: string) => join(root, "local", role);
const localArgs = (out: string) => ["merge", "--target", local("target"), "--plus", local("plus"), "--minus", local("minus"), "--alpha", "-1", "--shard-size", SHARD_SIZE, "--out", out];
const hubArgs = (hubUrl: string, out: string) => ["merge", "--hub-url", hubUrl, "--target", repos.target, "--plus", repos.plus, "--minus", repos.minus, "--alpha", "-1", "--shard-size", SHARD_SIZE, "--out", out];
const exists = (path: string) => stat(path).then(() => true, () => false);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "output-folder-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of ["target", "plus", "minus"] as const) {
    await generateQwen2Model({ dir: join(root, "hub", repos[role]), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 7, variantSeed: variants[role] });
    await cp(join(root, "hub", repos[role]), local(role), { recursive: true });
  }
  slowHub = await startHubServer({ root: join(root, "hub"), port: 0, faults: { delayMs: 400 } });
  fastHub = await startHubServer({ root: join(root, "hub"), port: 0 });
  reference = join(root, "reference");
  const result = await runCli(localArgs(reference));
  expect(result.code, result.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await slowHub.close();
  await fastHub.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * Every file of `out` byte for byte as in the reference merge of the local folders (merge_recipe.json
 * aside: it records the time), or only the weights for a merge of the same models through the Hub
 * (its model card names the repos).
 */
async function expectSameAsReference(out: string, only: "all" | "weights" = "all"): Promise<void> {
  const names = (await readdir(reference)).sort();
  expect((await readdir(out)).sort()).toEqual(names);
  for (const name of names) {
    if (name === "merge_recipe.json" || (only === "weights" && !name.includes(".safetensors"))) continue;
    expect((await readFile(join(out, name))).equals(await readFile(join(reference, name))), name).toBe(true);
  }
}

/** The tiny trio, planned as the CLI plans it. */
async function localPlan(): Promise<{ plan: MergePlan; sources: ModelSource[] }> {
  const sources = { target: await openFolderSource(local("target")), plus: await openFolderSource(local("plus")), minus: await openFolderSource(local("minus")) };
  const models = { target: await inspectModel(sources.target), plus: await inspectModel(sources.plus), minus: await inspectModel(sources.minus) };
  return { plan: planOneVector(models, -1), sources: Object.values(sources) };
}

/**
 * An unfinished merge with its journal, as Ctrl-C leaves it: the core API stopped after `chunks` chunks
 * (of 1000 bytes: the tiny model's adjacent tensors would otherwise make one chunk per shard).
 */
async function interruptedMerge(out: string, chunks: number): Promise<void> {
  const { plan, sources } = await localPlan();
  const controller = new AbortController();
  let seen = 0;
  const merge = writeMergedModel(plan, await openNodeFolderSink(out), {
    shardSize: parseByteSize(SHARD_SIZE),
    chunkBytes: 1000,
    toolVersion: TOOL_VERSION,
    journal: "start",
    signal: controller.signal,
    onProgress: () => {
      if (++seen === chunks) controller.abort(new Error("interrupted"));
    },
  });
  await expect(merge).rejects.toThrow("interrupted");
  await Promise.all(sources.map((source) => source.close?.()));
}

/** Starts the real CLI through the slow Hub and resolves once `ready` holds (polled), with the child still running. */
async function startSlowMerge(out: string, ready: () => Promise<boolean>): Promise<{ child: ChildProcess; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...hubArgs(slowHub.url, out)], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  let ended = false;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => ((ended = true), resolve(code))));
  while (!(await ready())) {
    if (ended) throw new Error(`the merge ended before it was ready:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { child, exited, stderr: () => stderr };
}

describe("--out with trailing slashes is normalised: the merge completes into out/ and leaves nothing behind", () => {
  it.each([
    ["out/", (dir: string) => `${dir}/`],
    ["out//", (dir: string) => `${dir}//`],
    ["./out/", (dir: string) => `./${relative(repoRoot, dir)}/`],
  ])("%s", async (name, spell) => {
    const dir = join(root, `slash-${name.replace(/\W/g, "_")}`);
    const result = await runCli(localArgs(spell(dir)));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^wrote \\S*${relative(root, dir)}: `, "m"));
    await expectSameAsReference(dir);
    expect(await exists(`${dir}.partial`)).toBe(false);
    expect(await exists(`${dir}.lock`)).toBe(false);
    expect(await exists(join(dir, ".partial"))).toBe(false);
    // The finished folder is refused as any existing output is, under either spelling.
    const again = await runCli(localArgs(spell(dir)));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; choose another output folder or pass --force/);
  }, 60_000);

  it("a path that names no folder of its own is refused", async () => {
    for (const out of [".", "./", "..", "/"]) {
      const result = await runCli(localArgs(out));
      expect(result.code, out).toBe(1);
      expect(result.stderr).toContain(`error: output folder "${out}" names no folder of its own`);
    }
  }, 60_000);
});

describe("an OUT.partial this tool did not make is never deleted without --force", () => {
  it("a folder without a journal is refused, naming it, and left as it was; --force replaces it", async () => {
    const out = join(root, "foreign-no-journal");
    await mkdir(`${out}.partial`);
    await writeFile(join(`${out}.partial`, "thesis.tex"), "years of work");
    const refused = await runCli(localArgs(out));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error: ${out}.partial exists and is not an unfinished merge of this tool (it holds no merge-journal.json, so it is not an unfinished merge of this tool); it is left alone: move it away, or pass --force to delete it`);
    expect(await readFile(join(`${out}.partial`, "thesis.tex"), "utf8")).toBe("years of work");
    expect(await exists(out)).toBe(false);
    expect(await exists(`${out}.lock`)).toBe(false);
    // --resume does not take it either: there is no journal to resume, and it is not ours to remove.
    const resumed = await runCli([...localArgs(out), "--resume"]);
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain("is not an unfinished merge of this tool");
    const forced = await runCli([...localArgs(out), "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain(`${out}.partial was not an unfinished merge of this tool (it holds no merge-journal.json`);
    await expectSameAsReference(out);
  }, 60_000);

  it("a journal next to files a merge does not write is refused; a file, not a folder, too", async () => {
    const out = join(root, "foreign-with-journal");
    await interruptedMerge(out, 3);
    await writeFile(join(`${out}.partial`, "notes.txt"), "mine");
    const refused = await runCli(localArgs(out));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`it holds files a merge does not write ("notes.txt")`);
    expect(await readFile(join(`${out}.partial`, "notes.txt"), "utf8")).toBe("mine");

    const file = join(root, "partial-is-a-file");
    await writeFile(`${file}.partial`, "not a folder");
    const notFolder = await runCli(localArgs(file));
    expect(notFolder.code).toBe(1);
    expect(notFolder.stderr).toContain(`${file}.partial exists and is not an unfinished merge of this tool (it is not a folder)`);
    expect(await readFile(`${file}.partial`, "utf8")).toBe("not a folder");
  }, 60_000);

  it("an unfinished merge of this tool is replaced without --resume, and says so", async () => {
    const out = join(root, "own-journal");
    await interruptedMerge(out, 3);
    const result = await runCli(localArgs(out));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`removing the unfinished merge in ${out}.partial and starting again (pass --resume to continue it instead)`);
    await expectSameAsReference(out);
  }, 60_000);
});

describe("two merges into the same --out cannot race", () => {
  it("a second merge is refused while the first runs, naming its pid; SIGTERM stops the first, which keeps OUT.partial for --resume", async () => {
    const out = join(root, "locked");
    const first = await startSlowMerge(out, () => exists(join(`${out}.partial`, "merge-journal.json")));
    const lock = JSON.parse(await readFile(`${out}.lock`, "utf8")) as { pid: number };
    expect(lock.pid).toBe(first.child.pid);
    const attempts = [localArgs(out), [...localArgs(out), "--resume"], [...localArgs(`${out}/`), "--force"]];
    for (const second of await Promise.all(attempts.map((args) => runCli(args)))) {
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`error: ${out} is being written by another merge (process ${first.child.pid}, since `);
      expect(second.stderr).toContain(`): lock file ${out}.lock. Wait for it to end`);
    }
    expect(first.child.exitCode, "the first merge ended before the others were refused: make the slow Hub slower").toBe(null);
    expect(await exists(join(`${out}.partial`, "merge-journal.json"))).toBe(true);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(143);
    expect(first.stderr()).toContain(`error: interrupted by SIGTERM; the unfinished merge is kept in ${out}.partial: run the same command with --resume to continue it`);
    expect(await exists(`${out}.lock`)).toBe(false);
    expect(await exists(out)).toBe(false);
    const resumed = await runCli([...hubArgs(fastHub.url, out), "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .*locked\.partial/);
    await expectSameAsReference(out, "weights");
  }, 120_000);

  it("SIGINT (Ctrl-C) stops the merge the same way", async () => {
    const out = join(root, "ctrl-c");
    const merge = await startSlowMerge(out, () => exists(join(`${out}.partial`, "merge-journal.json")));
    merge.child.kill("SIGINT");
    expect(await merge.exited).toBe(130);
    expect(merge.stderr()).toContain(`error: interrupted by SIGINT; the unfinished merge is kept in ${out}.partial: run the same command with --resume to continue it`);
    expect(await exists(join(`${out}.partial`, "merge-journal.json"))).toBe(true);
    expect(await exists(`${out}.lock`)).toBe(false);
  }, 60_000);

  it("a stale lock of a process that no longer runs is taken over", async () => {
    const out = join(root, "stale-lock");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(`${out}.lock`, JSON.stringify({ pid: dead, host: hostname(), started: "2026-01-01T00:00:00.000Z", token: "x" }));
    const result = await runCli(localArgs(out));
    expect(result.code, result.stderr).toBe(0);
    await expectSameAsReference(out);
    expect(await exists(`${out}.lock`)).toBe(false);
  }, 60_000);

  it("a lock naming this process's own pid is stale (an earlier process with the same pid, as after a container restart)", async () => {
    const path = join(root, "own-pid.lock");
    await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname(), started: "2026-01-01T00:00:00.000Z", token: "earlier" }));
    const lock = await acquireFolderLock(path, "own-pid");
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(JSON.parse(await readFile(path, "utf8")).token).not.toBe("earlier");
    // A live holder (the lock just taken) refuses the next one, whatever the process.
    await expect(acquireFolderLock(path, "own-pid")).rejects.toThrow(`own-pid is being written by another merge (process ${process.pid}, since `);
    await lock.release();
    expect(await exists(path)).toBe(false);
  });

  it("two merges started together: one writes the folder, the other is refused", async () => {
    const out = join(root, "together");
    const results = await Promise.all([runCli(localArgs(out)), runCli(localArgs(out))]);
    expect(results.map((result) => result.code).sort()).toEqual([0, 1]);
    const loser = results.find((result) => result.code === 1)!;
    expect(loser.stderr).toMatch(/is being written by another merge \(process \d+|already exists; choose another output folder/);
    await expectSameAsReference(out);
    expect(await exists(`${out}.lock`)).toBe(false);
  }, 60_000);
});

/** Paths this process has open as file descriptors (Linux: /proc/self/fd). */
async function openPaths(): Promise<string[]> {
  const paths: string[] = [];
  for (const fd of await readdir("/proc/self/fd")) paths.push(await readlink(join("/proc/self/fd", fd)).catch(() => ""));
  return paths;
}

describe("every output file handle is closed on every path", () => {
  const leaks = async (out: string) => (await openPaths()).filter((path) => path.startsWith(out) || path === "/dev/full");

  it("commit, abort, keep (an interrupted merge with a journal) and a write error", async () => {
    const { plan, sources } = await localPlan();
    // Chunks of 1000 bytes: many per shard, so that a merge stopped after a few is unfinished.
    const options = { shardSize: parseByteSize(SHARD_SIZE), toolVersion: TOOL_VERSION, checkpointBytes: 1000, chunkBytes: 1000 };
    const committed = join(root, "fd-commit");
    await writeMergedModel(plan, await openNodeFolderSink(committed), options);
    expect(await leaks(committed)).toEqual([]);

    for (const journal of [undefined, "start"] as const) {
      const out = join(root, `fd-abort-${journal ?? "none"}`);
      const controller = new AbortController();
      let chunks = 0;
      const merge = writeMergedModel(plan, await openNodeFolderSink(out), {
        ...options,
        journal,
        signal: controller.signal,
        onProgress: () => {
          if (++chunks === 5) controller.abort(new Error("stopped"));
        },
      });
      await expect(merge).rejects.toThrow("stopped");
      expect(await leaks(out)).toEqual([]);
      expect(await exists(`${out}.partial`)).toBe(journal === "start");
    }

    // A write error in the middle of a shard: the shard written into /dev/full.
    const full = join(root, "fd-error");
    const sink = await openNodeFolderSink(full);
    const second = (await readdir(reference)).filter((name) => name.endsWith(".safetensors")).sort()[1]!;
    await symlink("/dev/full", join(`${full}.partial`, second));
    await expect(writeMergedModel(plan, sink, { ...options, journal: "start" })).rejects.toThrow(/the disk is full/);
    expect(await leaks(full)).toEqual([]);
    await rm(`${full}.partial`, { recursive: true });
    await Promise.all(sources.map((source) => source.close?.()));
  }, 60_000);
});

describe("disk errors name the file and the reason", () => {
  it("disk full (ENOSPC) names the file being written and says the disk is full", async () => {
    const out = join(root, "disk-full");
    await interruptedMerge(out, 3);
    const journal = JSON.parse(await readFile(join(`${out}.partial`, "merge-journal.json"), "utf8")) as { finished: Record<string, unknown>; checkpoint: { file: string } | null };
    const shards = (await readdir(reference)).filter((name) => name.endsWith(".safetensors")).sort();
    const last = shards.at(-1)!;
    expect(Object.keys(journal.finished)).not.toContain(last);
    expect(journal.checkpoint?.file).not.toBe(last);
    // The shard not yet written lies on a "disk" that is full: writes into /dev/full fail with ENOSPC.
    await symlink("/dev/full", join(`${out}.partial`, last));
    const result = await runCli([...localArgs(out), "--resume"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: cannot write ${join(`${out}.partial`, last)}: the disk is full (no space left on the device); the unfinished merge is kept in ${out}.partial: run the same command with --resume to continue it`);
    expect(await exists(`${out}.lock`)).toBe(false);
    expect(await exists(join(`${out}.partial`, "merge-journal.json"))).toBe(true);
  }, 60_000);

  it("a read-only output folder says it is not writable, and /proc neither hangs nor blames a missing file", async () => {
    const parent = join(root, "read-only");
    await mkdir(parent);
    // Root writes through permission bits: it needs a read-only mount; where mounting is not
    // permitted, sysfs (which refuses new files to everyone) stands in.
    let how: "chmod" | "mount" | "sysfs" = "sysfs";
    if (process.getuid?.() !== 0) how = spawnSync("chmod", ["555", parent]).status === 0 ? "chmod" : how;
    else if (spawnSync("mount", ["--bind", "-o", "ro", parent, parent]).status === 0) how = "mount";
    try {
      const out = how === "sysfs" ? "/sys/merged" : join(parent, "merged");
      const result = await runCli(localArgs(out));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^error: cannot create the lock file ${out}\\.lock: not writable: (the file system is read-only|permission denied|the operation is not permitted there)$`, "m"));
      expect(result.stderr).not.toContain("ENOENT");
    } finally {
      if (how === "chmod") spawnSync("chmod", ["755", parent]);
      if (how === "mount") spawnSync("umount", [parent]);
    }
    const proc = await runCli(localArgs("/proc/self/new/merged"));
    expect(proc.code).toBe(1);
    expect(proc.stderr).toContain("error: cannot create the folder /proc/self/new: not writable: the operation is not permitted there");
  }, 60_000);
});
