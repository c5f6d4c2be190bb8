import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "./helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openNodeFolderSink } from "../src/core/node/openNodeFolderSink.ts";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { fetchRequest } from "../src/core/sources/fetchRequest.ts";
import type { HubStatus } from "../src/core/sources/hubStatus.ts";
import { openHubSource, type HttpRequest } from "../src/core/sources/openHubSource.ts";
import { startHubServer, type HubFaults, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { mergeSources } from "./helpers/mergeFolders.ts";
import { runCli } from "./helpers/runCli.ts";

let root: string;
let hub: RunningHubServer;
const repos = { target: "lab/tiny-instruct", plus: "lab/tiny-grpo", minus: "lab/tiny-sft" };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "merge-hub-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of ["target", "plus", "minus"] as const) {
    // Sharded in the Hub repos, so the index path is exercised over HTTP too.
    await generateQwen2Model({ dir: join(root, "hub", repos[role]), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 5, variantSeed: variants[role], shardSize: 40_000 });
    await generateQwen2Model({ dir: join(root, "local", role), shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 5, variantSeed: variants[role] });
  }
  hub = await startHubServer({ root: join(root, "hub"), port: 0 });
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

const fast = { retryBaseMs: 1 };

async function mergeFromHub(url: string, out: string, alpha = 0.5, request?: HttpRequest) {
  // Many retries: under injected faults a read may fail several times in a row by chance.
  const options = { hubUrl: url, retryBaseMs: 1, retries: 20, request };
  const sources = {
    target: await openHubSource(repos.target, options),
    plus: await openHubSource(repos.plus, options),
    minus: await openHubSource(repos.minus, options),
  };
  return mergeSources(sources, { alpha, out, chunkBytes: 4096 });
}

async function folderBytes(dir: string, skip: string[] = []): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(dir)).sort()) if (!skip.includes(name)) files.set(name, await readFile(join(dir, name)));
  return files;
}

describe("merging through the Hub", () => {
  it("gives the same weights and config as the local-folder path (sharded on the Hub, single file locally)", async () => {
    const fromHub = join(root, "out", "hub");
    const { plan } = await mergeFromHub(hub.url, fromHub);
    expect(plan.models.target.source.revision).toMatch(/^[0-9a-f]{40}$/);
    const local = join(root, "out", "local");
    await mergeSources(
      { target: await openFolderSource(join(root, "local", "target")), plus: await openFolderSource(join(root, "local", "plus")), minus: await openFolderSource(join(root, "local", "minus")) },
      { alpha: 0.5, out: local },
    );
    const [hubFiles, localFiles] = [await folderBytes(fromHub), await folderBytes(local)];
    expect(hubFiles.get("model.safetensors")!.equals(localFiles.get("model.safetensors")!)).toBe(true);
    expect(hubFiles.get("config.json")!.equals(localFiles.get("config.json")!)).toBe(true);
    const recipe = JSON.parse(hubFiles.get("merge_recipe.json")!.toString());
    expect(recipe.inputs.plus).toEqual({ repo: repos.plus, revision: plan.models.vectors[0]!.plus.source.revision });
    const card = hubFiles.get("README.md")!.toString();
    expect(card).toContain(`base_model:\n- ${repos.target}\n- ${repos.plus}\n- ${repos.minus}\n`);
  });

  it.each([
    ["fetch", undefined],
    ["Node's undici requests", nodeHttpRequest],
  ])("gives identical output when the server fails requests, cuts bodies short and is slow (%s)", async (name, request) => {
    const clean = join(root, "out", `clean-${name}`);
    await mergeFromHub(hub.url, clean, -1, request);
    for (const faults of [{ failEvery: 3 }, { truncateEvery: 2 }, { failEvery: 5, truncateEvery: 4, delayMs: 2 }] as HubFaults[]) {
      const faulty = await startHubServer({ root: join(root, "hub"), port: 0, faults });
      try {
        const out = join(root, "out", `faulty-${name}-${Object.keys(faults).join("-")}`);
        await mergeFromHub(faulty.url, out, -1, request);
        expect(faulty.requestCount()).toBeGreaterThan(10);
        const [expected, got] = [await folderBytes(clean), await folderBytes(out)];
        expect([...got.keys()]).toEqual([...expected.keys()]);
        for (const [name, bytes] of expected) expect(got.get(name)!.equals(bytes), name).toBe(true);
      } finally {
        await faulty.close();
      }
    }
  });

  it("stops with a clear error, and no output, when a file changes on the Hub mid-merge", async () => {
    const hubUrl = hub.url;
    const sources = {
      target: await openHubSource(repos.target, { hubUrl, ...fast }),
      plus: await openHubSource(repos.plus, { hubUrl, ...fast }),
      minus: await openHubSource(repos.minus, { hubUrl, ...fast }),
    };
    const models = { target: await inspectModel(sources.target), plus: await inspectModel(sources.plus), minus: await inspectModel(sources.minus) };
    const plan = planOneVector(models, 1);
    const out = join(root, "out", "changed");
    let rewritten = false;
    const promise = writeMergedModel(plan, await openNodeFolderSink(out), {
      shardSize: 5e9,
      chunkBytes: 2048,
      toolVersion: "test",
      onProgress: () => {
        if (rewritten) return;
        rewritten = true;
        // Same size, new content and mtime: the server's ETag changes.
        const shard = join(root, "hub", repos.plus, "model-00002-of-00003.safetensors");
        void readFile(shard).then((bytes) => writeFile(shard, bytes));
      },
    });
    await expect(promise).rejects.toThrow(/lab\/tiny-grpo@[0-9a-f]{40}: model-0000\d-of-00003\.safetensors changed on the Hub during the merge/);
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(`${out}.partial`)).rejects.toThrow();
  });
});

describe("merging through a Hub that behaves like huggingface.co", () => {
  it.each([
    ["Node's undici requests", nodeHttpRequest],
    ["fetch", fetchRequest],
  ])("gives the local merge's bytes through CDN redirects, URLs that expire mid-merge and a spent quota (%s)", async (name, request) => {
    const token = "hf_real_hub_token";
    const real = await startHubServer({
      root: join(root, "hub"),
      cdn: { urlTtlSeconds: 2 },
      resolveCache: true,
      rateLimit: { quota: 8, windowSeconds: 2 },
      treePageSize: 3,
      tokens: [token],
      hideRepos: true,
      faults: { delayMs: 10 },
    });
    try {
      const statuses: HubStatus[] = [];
      const options = { hubUrl: real.url, accessToken: token, request, retryBaseMs: 1, onStatus: (status: HubStatus) => statuses.push(status) };
      const sources = {
        target: await openHubSource(repos.target, options),
        plus: await openHubSource(repos.plus, options),
        minus: await openHubSource(repos.minus, options),
      };
      const out = join(root, "out", `real-hub-${name}`);
      const started = Date.now();
      await mergeSources(sources, { alpha: 0.5, out, chunkBytes: 4096 });
      const seconds = (Date.now() - started) / 1000;
      const local = join(root, "out", `real-hub-local-${name}`);
      const folders = {
        target: await openFolderSource(join(root, "hub", repos.target)),
        plus: await openFolderSource(join(root, "hub", repos.plus)),
        minus: await openFolderSource(join(root, "hub", repos.minus)),
      };
      await mergeSources(folders, { alpha: 0.5, out: local, chunkBytes: 4096 });
      await Promise.all(Object.values(folders).map((source) => source.close?.()));
      const [expected, got] = [await folderBytes(local, ["merge_recipe.json", "README.md"]), await folderBytes(out, ["merge_recipe.json", "README.md"])];
      expect([...got.keys()]).toEqual([...expected.keys()]);
      for (const [file, bytes] of expected) expect(got.get(file)!.equals(bytes), file).toBe(true);

      const stats = Object.values(sources).map((source) => source.stats());
      const resolves = stats.reduce((sum, s) => sum + s.resolves, 0);
      const renewals = stats.reduce((sum, s) => sum + s.renewals, 0);
      const counts = real.requestCounts();
      // URLs expired mid-merge and were renewed; every resolver request the server answered was one the sources counted.
      expect(renewals).toBeGreaterThanOrEqual(1);
      expect(counts.resolver - counts.rateLimited).toBe(resolves);
      // At most one resolve per file per URL lifetime (at least 1 s for a URL signed for 2 s).
      const files = (await Promise.all(Object.values(sources).map((source) => source.listFiles()))).flat().length;
      expect(resolves).toBeLessThanOrEqual(files * (1 + Math.ceil(seconds)));
      expect(statuses.some((status) => status.kind === "rate-limited" && !!status.authenticated)).toBe(true);
      // Every wait (after a 429, or pacing a spent quota) is followed by its end: no stale "rate-limited" is left shown.
      expect(statuses.filter((status) => status.kind === "resumed")).toHaveLength(statuses.filter((status) => status.kind === "rate-limited").length);
      expect(counts.cdn).toBeGreaterThan(50);
      expect(counts.cdnWithAuthorization).toBe(0);
    } finally {
      await real.close();
    }
  });
});

describe("the CLI through the Hub", () => {
  it("merges repo ids with a pinned revision, and sends the token from HF_TOKEN", async () => {
    const guarded = await startHubServer({ root: join(root, "hub"), port: 0, token: "hf_testtoken" });
    try {
      const info = await openHubSource(repos.target, { hubUrl: guarded.url, accessToken: "hf_testtoken" });
      const out = join(root, "out", "cli-hub");
      const args = ["merge", "--hub-url", guarded.url, "--target", `${repos.target}@${info.revision}`, "--plus", repos.plus, "--minus", repos.minus, "--alpha", "1", "--out", out];
      const denied = await runCli(args, { HF_TOKEN: "" });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/error: .*(401|token|unauthori[sz]ed)/i);
      const merged = await runCli(args, { HF_TOKEN: "hf_testtoken" });
      expect(merged.code, merged.stderr).toBe(0);
      expect(merged.stderr).not.toContain("hf_testtoken");
      const recipe = JSON.parse(await readFile(join(out, "merge_recipe.json"), "utf8"));
      expect(recipe.inputs.target.revision).toBe(info.revision);
      expect(JSON.stringify(recipe)).not.toContain("hf_testtoken");
    } finally {
      await guarded.close();
    }
  });

  it("prints the rate-limit waits and merges the same bytes through a Hub in real-Hub mode", async () => {
    const real = await startHubServer({ root: join(root, "hub"), cdn: {}, resolveCache: true, rateLimit: { quota: 10, windowSeconds: 2 } });
    try {
      const out = join(root, "out", "cli-real-hub");
      const merged = await runCli(["merge", "--hub-url", real.url, "--target", repos.target, "--plus", repos.plus, "--minus", repos.minus, "--alpha", "1", "--out", out], { HF_TOKEN: "" });
      expect(merged.code, merged.stderr).toBe(0);
      expect(merged.stderr).toMatch(/^rate-limited by the Hub, resuming in [1-4] s \(a Hugging Face token raises the quota\)$/m);
      const local = join(root, "out", "cli-real-hub-local");
      const folders = ["target", "plus", "minus"].map((role) => join(root, "hub", repos[role as keyof typeof repos]));
      const direct = await runCli(["merge", "--target", folders[0]!, "--plus", folders[1]!, "--minus", folders[2]!, "--alpha", "1", "--out", local]);
      expect(direct.code, direct.stderr).toBe(0);
      const [expected, got] = [await folderBytes(local, ["merge_recipe.json", "README.md"]), await folderBytes(out, ["merge_recipe.json", "README.md"])];
      for (const [file, bytes] of expected) expect(got.get(file)!.equals(bytes), file).toBe(true);
    } finally {
      await real.close();
    }
  });

  it("stops at once on Ctrl-C while it waits on the Hub's rate limit, leaving no output", async () => {
    const spent = await startHubServer({ root: join(root, "hub"), cdn: {}, rateLimit: { quota: 1, windowSeconds: 120 } });
    try {
      await fetch(`${spent.url}/${repos.target}/resolve/main/config.json`, { redirect: "manual" });
      const out = join(root, "out", "cli-interrupted");
      const args = ["merge", "--hub-url", spent.url, "--target", repos.target, "--plus", repos.plus, "--minus", repos.minus, "--out", out];
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, HF_TOKEN: "" } });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      await vi.waitFor(() => expect(stderr).toMatch(/rate-limited by the Hub, resuming in 1[12]\d s/), { timeout: 20_000, interval: 100 });
      const interruptedAt = Date.now();
      child.kill("SIGINT");
      const [code] = (await once(child, "close")) as [number | null];
      expect(Date.now() - interruptedAt).toBeLessThan(3000);
      expect(code).not.toBe(0);
      await expect(stat(out)).rejects.toThrow();
      await expect(stat(`${out}.partial`)).rejects.toThrow();
    } finally {
      await spent.close();
    }
  });

  it("names an unknown repo and an unreachable Hub in one line, with no output", async () => {
    const out = join(root, "out", "never");
    const unknown = await runCli(["merge", "--hub-url", hub.url, "--target", "lab/no-such-model", "--plus", repos.plus, "--minus", repos.minus, "--out", out]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/error: target: lab\/no-such-model: repository not found.*\(and there is no local folder lab\/no-such-model\)$/m);
    const unreachable = await runCli(["merge", "--hub-url", "http://127.0.0.1:9", "--target", repos.target, "--plus", repos.plus, "--minus", repos.minus, "--out", out]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/error: target: cannot reach the Hub at http:\/\/127\.0\.0\.1:9/);
    await expect(stat(out)).rejects.toThrow();
  });
});
