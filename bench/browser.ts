import { chromium, type Page } from "@playwright/test";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeBackend, type BackendInUse } from "../src/core/engine/createBackendComputer.ts";
import { HUB_CHUNK_BYTES } from "../src/core/engine/writeMergedModel.ts";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { openMergeApiPage, serveMergeApiPage } from "../e2e/mergeApiPage.ts";
import { BENCH_MODELS, generateBenchModels, HUB_ROOT, repoDir } from "./benchModels.ts";
import { childPid, sampleTreeRss } from "./processTreeMemory.ts";

/**
 * Browser merge benchmark (npm run bench:browser; it builds the merge API test page itself): in headless Chromium, the
 * 0.5B bench trio merged from the local Hub server into OPFS by startBrowserMerge, once on the CPU
 * (the compute workers) and once on the GPU (WebGPU), against an in-browser I/O floor (the same
 * ranged reads, the output's bytes written to OPFS, no arithmetic), with the peak resident memory
 * of all of Chromium's processes.
 */

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const FLOOR_RUNS = 2;
const TARGET_RATIO = 1.5;
const TARGET_RSS_BYTES = 1.5e9;
/** Chunks in flight in the floor, as in the merge: the one being written and three read ahead. */
const FLOOR_IN_FLIGHT = 4;

/**
 * The floor, run in a dedicated worker made from this source: reads the three files in HUB_CHUNK_BYTES
 * ranges, FLOOR_IN_FLIGHT chunks at a time, each into a reused buffer by a BYOB reader (as the
 * merge's fetchRequest does), and writes the target's bytes in order to an OPFS file.
 */
const FLOOR_WORKER = `
onmessage = async ({ data: { urls, size, chunkBytes, inFlight } }) => {
  const started = performance.now();
  const root = await navigator.storage.getDirectory();
  const handle = await (await root.getFileHandle("bench-floor.bin", { create: true })).createSyncAccessHandle();
  handle.truncate(0);
  const free = [];
  const read = async (url, start, end) => {
    const response = await fetch(url, { headers: { Range: "bytes=" + start + "-" + (end - 1) } });
    const reader = response.body.getReader({ mode: "byob" });
    let buffer = free.pop() ?? new ArrayBuffer(chunkBytes);
    let filled = 0;
    while (filled < end - start) {
      const { done, value } = await reader.read(new Uint8Array(buffer, filled, chunkBytes - filled));
      buffer = value.buffer;
      if (done) break;
      filled += value.byteLength;
    }
    return new Uint8Array(buffer, 0, filled);
  };
  const pending = [];
  let written = 0;
  for (let offset = 0; offset < size || pending.length > 0; offset += chunkBytes) {
    if (offset < size) {
      const end = Math.min(size, offset + chunkBytes);
      pending.push(Promise.all(urls.map((url) => read(url, offset, end))));
    }
    if (pending.length >= inFlight || offset >= size) {
      const chunks = await pending.shift();
      written += handle.write(chunks[0], { at: written });
      for (const chunk of chunks) free.push(chunk.buffer);
    }
  }
  handle.flush();
  handle.close();
  await root.removeEntry("bench-floor.bin");
  postMessage({ seconds: (performance.now() - started) / 1000, written });
};`;

/** What the bench uses of src/ui/merge/browserMerge.ts, exposed by the merge API test page (e2e/merge-api-page.ts). */
interface MergeStudioHook {
  startBrowserMerge(
    request: unknown,
    onProgress: () => void,
  ): { done: Promise<{ files: Record<string, { size: number }>; backend: { backend: BackendInUse; fallback?: boolean } }> };
  discardMerge(result: unknown): Promise<void>;
}

interface Phase {
  name: string;
  seconds: number;
  bytes: number;
  peak: { rss: number; pss: number };
}

async function main(): Promise<void> {
  await generateBenchModels();
  const hub = await startHubServer({ root: HUB_ROOT, port: 0, host: "127.0.0.1" });
  const mergeApiPage = await serveMergeApiPage();
  // A persistent profile, as a user's browser has: Playwright's default contexts are incognito,
  // where OPFS lives in memory and the merged model would count as the browser's memory.
  const profile = await mkdtemp(join(tmpdir(), "merge-studio-bench-profile-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const rss = sampleTreeRss(await childPid("chromium"));
  try {
    const page = await context.newPage();
    await openMergeApiPage(page, mergeApiPage.url);

    const fileName = "model.safetensors";
    const size = (await stat(join(repoDir(BENCH_MODELS[0]!.repo), fileName))).size;
    const urls = BENCH_MODELS.map((model) => `${hub.url}/${model.repo}/resolve/main/${fileName}`);
    const phases: Phase[] = [];
    let floor: Phase | undefined;
    for (let run = 0; run < FLOOR_RUNS; run++) {
      rss.reset();
      const seconds = await runFloor(page, urls, size);
      const phase = { name: `I/O floor (best of ${FLOOR_RUNS})`, seconds, bytes: size, peak: rss.peak() };
      if (!floor || phase.seconds < floor.seconds) floor = phase;
    }
    phases.push(floor!);
    const software: string[] = [];
    for (const backend of ["cpu", "gpu"] as const) {
      rss.reset();
      const merge = await runMerge(page, hub.url, backend);
      const inUse = merge.backend.backend;
      if (inUse.kind === "gpu" && inUse.software) software.push(describeBackend(inUse));
      const fellBack = backend === "gpu" && inUse.kind !== "gpu" ? " (no GPU: ran on the CPU)" : "";
      phases.push({ name: `merge, ${describeBackend(inUse)}${fellBack}`, seconds: merge.seconds, bytes: merge.bytes, peak: rss.peak() });
    }
    printReport(phases);
    for (const name of software) {
      process.stdout.write(`${name} is a software adapter: Vulkan emulated on this machine's CPU cores, so its figure is no GPU's speed.\n`);
    }
  } finally {
    rss.stop();
    await context.close();
    await rm(profile, { recursive: true, force: true });
    await mergeApiPage.close();
    await hub.close();
  }
}

async function runFloor(page: Page, urls: string[], size: number): Promise<number> {
  return page.evaluate(
    async ({ source, urls, size, chunkBytes, inFlight }) => {
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
      const started = performance.now();
      const done = new Promise<{ written: number }>((resolve, reject) => {
        worker.onmessage = (event: MessageEvent<{ written: number }>) => resolve(event.data);
        worker.onerror = (event) => reject(new Error(event.message));
      });
      worker.postMessage({ urls, size, chunkBytes, inFlight });
      const { written } = await done;
      worker.terminate();
      if (written !== size) throw new Error(`the floor wrote ${written} of ${size} bytes`);
      return (performance.now() - started) / 1000;
    },
    { source: FLOOR_WORKER, urls, size, chunkBytes: HUB_CHUNK_BYTES, inFlight: FLOOR_IN_FLIGHT },
  );
}

async function runMerge(page: Page, hubUrl: string, backend: "cpu" | "gpu"): Promise<{ seconds: number; bytes: number; backend: { backend: BackendInUse } }> {
  const [target, plus, minus] = BENCH_MODELS.map((model) => ({ kind: "hub" as const, repo: model.repo }));
  return page.evaluate(
    async (request) => {
      const api = (window as unknown as { __mergeStudio: MergeStudioHook }).__mergeStudio;
      const started = performance.now();
      const result = await api.startBrowserMerge(request, () => undefined).done;
      const seconds = (performance.now() - started) / 1000;
      await api.discardMerge(result);
      const bytes = Object.entries(result.files).reduce((sum, [path, file]) => sum + (path.endsWith(".safetensors") ? file.size : 0), 0);
      return { seconds, bytes, backend: result.backend };
    },
    { hubUrl, inputs: { target: target!, plus: plus!, minus: minus! }, alpha: 1, shardSize: 5e9, vocab: "exact" as const, backend },
  );
}

function printReport(phases: Phase[]): void {
  const floor = phases[0]!;
  const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
  const nameWidth = Math.max(...phases.map((phase) => phase.name.length)) + 2;
  const lines = [
    "",
    `Qwen2.5-0.5B-shaped trio, bf16, from the local Hub server into OPFS, in headless Chromium; chunk ${HUB_CHUNK_BYTES / 2 ** 20} MiB.`,
    `Targets: merge within ${TARGET_RATIO}x of the in-browser I/O floor, peak memory of Chromium's processes under ${mb(TARGET_RSS_BYTES)}`,
    "(sums over all of its processes, sampled every 200 ms; the verdict uses PSS, RSS counts shared pages once per process).",
    "",
    `${"phase".padEnd(nameWidth)}${"wall s".padStart(8)}${"GB/s".padStart(8)}${"x floor".padStart(9)}${"peak RSS".padStart(10)}${"peak PSS".padStart(10)}  verdict`,
  ];
  for (const phase of phases) {
    const ratio = phase.seconds / floor.seconds;
    const verdict =
      phase === floor ? "" : `${ratio <= TARGET_RATIO ? "speed ok" : "speed MISSED"}, ${phase.peak.pss < TARGET_RSS_BYTES ? "memory ok" : "memory MISSED"}`;
    lines.push(
      `${phase.name.padEnd(nameWidth)}${phase.seconds.toFixed(2).padStart(8)}${(phase.bytes / 1e9 / phase.seconds).toFixed(2).padStart(8)}` +
        `${ratio.toFixed(2).padStart(9)}${mb(phase.peak.rss).padStart(10)}${mb(phase.peak.pss).padStart(10)}  ${verdict}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
