import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "vite";
import { LOCAL_CHUNK_BYTES } from "../src/core/engine/writeMergedModel.ts";
import { BENCH_DIR, BENCH_MODELS as MODELS, generateBenchModels, HUB_ROOT, repoDir } from "./benchModels.ts";
import { freePort } from "./freePort.ts";

/**
 * Merge throughput benchmark (npm run bench:merge): a Qwen2.5-0.5B-shaped trio, merged from local
 * folders (task_arithmetic, then ties and dare_ties with two vectors at density 0.5) and through the
 * local Hub server, against the I/O floor of the same reads and writes.
 * The merges run the CLI as users do, bin/merge-studio.js on the built bundle (built here first).
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(BENCH_DIR, "out");
const CLI = join(REPO_ROOT, "bin", "merge-studio.js");
const REPORT_RESOURCE_USAGE = pathToFileURL(join(REPO_ROOT, "bench", "reportResourceUsage.js")).href;
/** The floor reads in the chunks the merge uses for local folders. */
const CHUNK_BYTES = LOCAL_CHUNK_BYTES;
const TARGET_RATIO = 1.5;
const FLOOR_RUNS = 3;
const TARGET_RSS_BYTES = 600e6;


interface ChildResult {
  seconds: number;
  peakRssBytes: number | undefined;
  /** User + system CPU time of the child, every thread. */
  cpuSeconds: number | undefined;
}

/** What a child reports through reportResourceUsage.js, when it could. */
type ResourceUsage = Partial<Pick<ChildResult, "peakRssBytes" | "cpuSeconds">>;

async function main(): Promise<void> {
  process.stdout.write("building the CLI (npm run build:cli)\n");
  await build({ configFile: join(REPO_ROOT, "vite.cli.config.ts"), root: REPO_ROOT, logLevel: "warn" });
  await generateBenchModels();
  const [target, plus, minus] = MODELS.map((model) => repoDir(model.repo)) as [string, string, string];
  const floorArgs = [join(REPO_ROOT, "bench", "ioFloor.js"), target, plus, minus, join(OUT_DIR, "floor"), String(CHUNK_BYTES)];

  process.stdout.write("warming the page cache: one untimed I/O floor run\n");
  await runChild("I/O floor (warm-up)", floorArgs);

  const rows: { phase: string; result: ChildResult | Error; outDir: string }[] = [];
  const measure = async (phase: string, outDir: string, run: () => Promise<ChildResult>) => {
    await rm(outDir, { recursive: true, force: true });
    // Earlier phases leave a GB of dirty pages; flushing them first keeps their write-back out of this timing.
    execFileSync("sync");
    process.stdout.write(`running ${phase}\n`);
    const result = await run().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    rows.push({ phase, result, outDir });
  };
  // The floor's own run-to-run noise is large on a small machine; the fastest of a few runs is the floor.
  await measure(`I/O floor (best of ${FLOOR_RUNS})`, join(OUT_DIR, "floor"), async () => {
    const runs: ChildResult[] = [];
    for (let i = 0; i < FLOOR_RUNS; i++) runs.push(await runChild("I/O floor", floorArgs));
    return runs.reduce((best, run) => (run.seconds < best.seconds ? run : best));
  });
  const localOut = join(OUT_DIR, "local");
  await measure("merge, local folders", localOut, () =>
    runChild("merge", [CLI, "merge", "--target", target, "--plus", plus, "--minus", minus, "--alpha", "1", "--out", localOut, "--force"]),
  );
  // Two vectors, density 0.5: v0 = plus - minus, v1 = minus - target (the target is read once for
  // both roles). ties adds the statistics pass (reads of every tensor's term inputs before merging it).
  for (const method of ["ties", "dare_ties"] as const) {
    const recipeFile = join(BENCH_DIR, `recipe-${method}.json`);
    const recipe = { target, method, parameters: { density: 0.5 }, vectors: [{ plus, minus, weight: 1 }, { plus: minus, minus: target, weight: 0.5 }] };
    await writeFile(recipeFile, JSON.stringify(recipe));
    const out = join(OUT_DIR, method);
    await measure(`${method} (2 vectors), local`, out, () => runChild(method, [CLI, "merge", "--config", recipeFile, "--out", out, "--force"]));
    await rm(recipeFile, { force: true });
  }
  const hubOut = join(OUT_DIR, "hub");
  const hub = await startHub();
  let hubStopped: HubStopped;
  try {
    // Untimed: the server hashes each weight file once for X-Linked-Etag (huggingface.co has it stored).
    const warmUp = await warmHub(hub.url);
    await measure("merge, local Hub server", hubOut, () => {
      const [t, p, m] = MODELS.map((model) => model.repo) as [string, string, string];
      return runChild("merge", [CLI, "merge", "--target", t, "--plus", p, "--minus", m, "--alpha", "1", "--out", hubOut, "--force", "--hub-url", hub.url]);
    });
    hubStopped = await hub.stop();
    if (hubStopped.resolverRequests !== undefined) hubStopped.resolverRequests -= warmUp;
  } catch (error) {
    await hub.stop();
    throw error;
  }
  await printReport(rows, hubStopped);
  await rm(OUT_DIR, { recursive: true, force: true });
}

/** Spawns `node --import reportResourceUsage.js ARGS`, with a file for the child's peak RSS and CPU time. */
function spawnNode(args: string[], usageFile: string): ChildProcess {
  return spawn(process.execPath, ["--import", REPORT_RESOURCE_USAGE, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, RESOURCE_USAGE_FILE: usageFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

async function readResourceUsage(usageFile: string): Promise<ResourceUsage> {
  const text = await readFile(usageFile, "utf8").catch(() => undefined);
  await rm(usageFile, { force: true });
  return text === undefined ? {} : (JSON.parse(text) as ResourceUsage);
}

async function runChild(label: string, args: string[]): Promise<ChildResult> {
  await mkdir(OUT_DIR, { recursive: true });
  const usageFile = join(BENCH_DIR, `usage-${process.pid}.json`);
  const started = performance.now();
  const child = spawnNode(args, usageFile);
  let output = "";
  child.stdout!.on("data", (data: Buffer) => (output += data.toString()));
  child.stderr!.on("data", (data: Buffer) => (output += data.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  const { peakRssBytes, cpuSeconds } = await readResourceUsage(usageFile);
  if (code !== 0) throw new Error(`${label} exited with ${code}:\n${output.trim().split("\n").slice(-10).join("\n")}`);
  return { seconds, peakRssBytes, cpuSeconds };
}

interface HubStopped {
  peakRssBytes: number | undefined;
  /** Resolver requests the server answered, from the counts it prints when it stops. */
  resolverRequests: number | undefined;
}

/** Resolves each weight file once, so that the server has hashed it before the timed merge; returns the requests sent. */
async function warmHub(url: string): Promise<number> {
  for (const model of MODELS) {
    const response = await fetch(`${url}/${model.repo}/resolve/main/model.safetensors`, { redirect: "manual" });
    if (response.status !== 302) throw new Error(`the hub server answered ${response.status} to a resolve of ${model.repo}, not a CDN redirect`);
  }
  return MODELS.length;
}

/**
 * Starts `main.ts hub --real-hub` (huggingface.co's behaviour: weights redirected to a CDN origin with
 * signed URLs, rate-limit headers) on a free port and waits for the URL it prints; stop() returns its
 * peak RSS and request counts.
 */
async function startHub(): Promise<{ url: string; stop: () => Promise<HubStopped> }> {
  const usageFile = join(BENCH_DIR, `usage-hub-${process.pid}.json`);
  const child = spawnNode([CLI, "hub", "--root", HUB_ROOT, "--port", String(await freePort()), "--real-hub"], usageFile);
  const closed = once(child, "close");
  let output = "";
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub server printed no URL within 30 s:\n${output}`)), 30_000);
    const onData = (data: Buffer) => {
      output += data.toString();
      const match = /^https?:\/\/\S+$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[0]);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`the hub server exited before printing its URL:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    child.kill("SIGTERM");
    await closed;
    throw error;
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await closed;
      const resolver = /requests: resolver (\d+)/.exec(output)?.[1];
      return { peakRssBytes: (await readResourceUsage(usageFile)).peakRssBytes, resolverRequests: resolver === undefined ? undefined : Number(resolver) };
    },
  };
}

async function safetensorsBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => []);
  const sizes = await Promise.all(names.filter((name) => name.endsWith(".safetensors")).map(async (name) => (await stat(join(dir, name))).size));
  return sizes.reduce((sum, size) => sum + size, 0);
}

async function printReport(rows: { phase: string; result: ChildResult | Error; outDir: string }[], hub: HubStopped): Promise<void> {
  const floor = rows[0]!.result;
  const mb = (bytes: number | undefined) => (bytes === undefined ? "?" : `${Math.round(bytes / 1e6)} MB`);
  const lines = [
    "",
    `Qwen2.5-0.5B-shaped trio, bf16, one file each; chunk ${CHUNK_BYTES / 2 ** 20} MiB.`,
    "Page cache warm for all three phases (inputs read once before timing). Wall and CPU time (user + system, all threads)",
    "include start-up: the merges run the built CLI (bin/merge-studio.js), the floor runs bench/ioFloor.js on node alone.",
    `Targets: merge within ${TARGET_RATIO}x of the I/O floor, peak RSS under ${mb(TARGET_RSS_BYTES)}.`,
    "",
    `${"phase".padEnd(30)}${"wall s".padStart(8)}${"CPU s".padStart(8)}${"GB/s".padStart(8)}${"x floor".padStart(9)}${"peak RSS".padStart(10)}  verdict`,
  ];
  for (const { phase, result, outDir } of rows) {
    if (result instanceof Error) {
      lines.push(`${phase.padEnd(30)} FAILED: ${result.message.replaceAll("\n", "\n    ")}`);
      continue;
    }
    const bytes = await safetensorsBytes(outDir);
    const ratio = floor instanceof Error ? undefined : result.seconds / floor.seconds;
    const verdict = result === floor
      ? ""
      : [
          ratio === undefined ? "ratio ?" : ratio <= TARGET_RATIO ? "speed ok" : "speed MISSED",
          result.peakRssBytes === undefined ? "rss ?" : result.peakRssBytes < TARGET_RSS_BYTES ? "rss ok" : "rss MISSED",
        ].join(", ");
    lines.push(
      `${phase.padEnd(30)}${result.seconds.toFixed(2).padStart(8)}${(result.cpuSeconds?.toFixed(2) ?? "?").padStart(8)}${(bytes / 1e9 / result.seconds).toFixed(2).padStart(8)}` +
        `${(ratio === undefined ? "?" : ratio.toFixed(2)).padStart(9)}${mb(result.peakRssBytes).padStart(10)}  ${verdict}`,
    );
  }
  if (hub.peakRssBytes !== undefined) lines.push("", `hub server peak RSS during the Hub merge: ${mb(hub.peakRssBytes)}`);
  if (hub.resolverRequests !== undefined) {
    const readGb = (await Promise.all(MODELS.map((model) => safetensorsBytes(repoDir(model.repo))))).reduce((sum, bytes) => sum + bytes, 0) / 1e9;
    lines.push(
      `Hub merge (server in real-Hub mode): ${hub.resolverRequests} resolver requests for ${readGb.toFixed(2)} GB of weights read, ` +
        `${(hub.resolverRequests / readGb).toFixed(2)} per GB (huggingface.co allows 3000 per 5 minutes without a token)`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
