import { createHash } from "node:crypto";
import type { ChunkComputer } from "../src/core/engine/ChunkComputer.ts";
import { HUB_CHUNK_BYTES, writeMergedModel } from "../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "../test/helpers/oneVectorRecipe.ts";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { buildSafetensorsIndex, planShards } from "../src/core/safetensors/planShards.ts";
import { tensorByteLength, writeSafetensorsHeader } from "../src/core/safetensors/writeSafetensorsHeader.ts";
import type { FolderSink } from "../src/core/sinks/FolderSink.ts";
import { openHubSource, type HttpRequest, type HttpResponse } from "../src/core/sources/openHubSource.ts";
import { QWEN2_PRESETS, qwen2Tensors, type Qwen2Shape } from "../src/testmodels/qwen2Shape.ts";
import { renderQwen2Config } from "../src/testmodels/generateQwen2Model.ts";

/**
 * Hub requests per GB read (npm run bench:hub-requests): the real engine merges a trio through the real
 * Hub source against a synthetic Hub that answers as huggingface.co does (302 of LFS files to signed CDN
 * URLs that live 3600 s, 307 of small files to resolve-cache, RateLimit headers), over models that exist
 * only as safetensors headers (their weights read as zeros; the arithmetic is skipped), so the 7B shape
 * needs no 45 GB on disk. Counts resolver, API and CDN requests, and resolver and CDN requests per GB of
 * weights read (a CDN request reads a chunk, or several adjacent small tensors, of one input).
 */

const HUB = "https://hub.invalid";
const CDN = "https://cdn.invalid";
const URL_LIFETIME_SECONDS = 3600;

const QWEN2_5_7B: Qwen2Shape = {
  hiddenSize: 3584,
  intermediateSize: 18944,
  numLayers: 28,
  numHeads: 28,
  numKvHeads: 4,
  vocabSize: 152064,
  tieWordEmbeddings: false,
  ropeTheta: 1_000_000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 131072,
};

interface SyntheticFile {
  size: number;
  /** The bytes at the start of the file (a whole small file, or a safetensors header); the rest reads as zeros. */
  head: Uint8Array;
}

interface Counts {
  resolver: number;
  api: number;
  cdn: number;
}

/** A model repo as files: config, generation config, safetensors shards (headers only) and their index. */
function syntheticRepo(shape: Qwen2Shape, shardBytes: number): Map<string, SyntheticFile> {
  const text = (s: string) => {
    const head = new TextEncoder().encode(s);
    return { size: head.length, head };
  };
  const tensors = qwen2Tensors(shape).map((tensor) => ({ ...tensor, dtype: "BF16" as const }));
  const shards = planShards(tensors, shardBytes);
  const files = new Map<string, SyntheticFile>([
    ["config.json", text(renderQwen2Config(shape, "BF16"))],
    ["generation_config.json", text('{"bos_token_id": 151643, "eos_token_id": 151643}')],
  ]);
  if (shards.length > 1) files.set("model.safetensors.index.json", text(buildSafetensorsIndex(shards)));
  for (const shard of shards) {
    const head = writeSafetensorsHeader(shard.tensors);
    files.set(shard.fileName, { size: head.length + shard.tensors.reduce((sum, t) => sum + tensorByteLength(t), 0), head });
  }
  return files;
}

/** huggingface.co's answers for `repos`, as an HttpRequest: what the Hub source sees from the real Hub. */
function syntheticHub(repos: Map<string, Map<string, SyntheticFile>>, counts: Counts): HttpRequest {
  const sha = (id: string) => createHash("sha1").update(id).digest("hex");
  const zeros = new Uint8Array(HUB_CHUNK_BYTES);
  const reply = (status: number, headers: Record<string, string>, body: Uint8Array = new Uint8Array(0)): HttpResponse => ({
    status,
    statusText: "",
    headers: new Headers(headers),
    body,
  });
  const json = (value: unknown) => reply(200, { "Content-Type": "application/json" }, new TextEncoder().encode(JSON.stringify(value)));

  function ranged(file: SyntheticFile, range: string | undefined, etag: string): HttpResponse {
    const match = range?.match(/^bytes=(\d+)-(\d+)$/);
    const start = match ? Number(match[1]) : 0;
    const end = match ? Math.min(Number(match[2]), file.size - 1) : file.size - 1;
    const length = end - start + 1;
    let body: Uint8Array;
    if (start >= file.head.length) body = length <= zeros.length ? zeros.subarray(0, length) : new Uint8Array(length);
    else {
      body = new Uint8Array(length);
      body.set(file.head.subarray(start, Math.min(end + 1, file.head.length)));
    }
    return reply(206, { "Content-Range": `bytes ${start}-${end}/${file.size}`, "Content-Length": String(length), ETag: etag }, body);
  }

  function answer(url: URL, headers: Record<string, string>): HttpResponse {
    const range = headers.Range;
    if (url.origin === CDN) {
      counts.cdn++;
      const [, owner, name, ...path] = url.pathname.split("/");
      const file = repos.get(`${owner}/${name}`)?.get(path.join("/"));
      if (!file) return reply(404, {});
      const signedAt = Date.parse(url.searchParams.get("X-Amz-Date")!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
      if (Date.now() >= signedAt + Number(url.searchParams.get("X-Amz-Expires")) * 1000) return reply(403, {});
      return ranged(file, range, `"cdn-${path.join("/")}"`);
    }
    const parts = url.pathname.split("/").slice(1);
    if (parts[0] === "api") {
      counts.api++;
      if (parts[1] === "resolve-cache") {
        const [, , , owner, name, , ...path] = parts;
        const file = repos.get(`${owner}/${name}`)?.get(path.join("/"));
        return file ? ranged(file, range, `"${sha(path.join("/"))}"`) : reply(404, { "X-Error-Code": "EntryNotFound" });
      }
      const [, , owner, name, action] = parts;
      const id = `${owner}/${name}`;
      const repo = repos.get(id);
      if (!repo) return reply(401, {});
      if (action === "tree") return json([...repo].map(([path, file]) => ({ type: "file", oid: sha(path), size: file.size, path })));
      return json({ _id: sha(id).slice(0, 24), id, sha: sha(id), private: false, gated: false, downloads: 0, likes: 0, lastModified: new Date(0).toISOString(), tags: [] });
    }
    counts.resolver++;
    const [owner, name, , rev, ...path] = parts;
    const id = `${owner}/${name}`;
    const file = repos.get(id)?.get(path.join("/"));
    const limits = { RateLimit: '"resolvers";r=4999;t=300', "RateLimit-Policy": '"fixed window";"resolvers";q=5000;w=300' };
    if (!file) return reply(404, { ...limits, "X-Error-Code": "EntryNotFound" });
    const common = { ...limits, "X-Repo-Commit": rev!, "X-Linked-Size": String(file.size) };
    if (!path.at(-1)!.endsWith(".safetensors")) {
      return reply(307, { ...common, Location: `/api/resolve-cache/models/${id}/${rev}/${path.join("/")}`, ETag: `"${sha(path.join("/"))}"` });
    }
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const signed = new URLSearchParams({ "X-Amz-Date": amzDate, "X-Amz-Expires": String(URL_LIFETIME_SECONDS), "X-Amz-Signature": "0".repeat(64) });
    const linked = `"${createHash("sha256").update(`${id}/${path.join("/")}`).digest("hex")}"`;
    return reply(302, { ...common, Location: `${CDN}/${id}/${path.join("/")}?${signed}`, "X-Linked-Etag": linked, ETag: linked });
  }

  return async (url, init) => {
    let current = new URL(url);
    let headers = init.headers ?? {};
    for (let hop = 0; ; hop++) {
      const response = answer(current, headers);
      const location = response.headers.get("Location");
      if (init.redirect === "manual" || location === null || hop >= 5) return response;
      const next = new URL(location, current);
      // As undici and fetch do: no Authorization to another origin.
      if (next.origin !== current.origin) headers = Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== "authorization"));
      current = next;
    }
  };
}

/** Skips the arithmetic: this benchmark counts requests, not FLOPs. */
const noArithmetic: ChunkComputer = { compute: async (task) => task.into ?? new Uint8Array(0) };

/** Discards the output (and keeps no journal: the merge runs without one). */
const discarded = async () => ({ size: 0, sha256: "" });
const nowhere: FolderSink = {
  createFile: async () => ({ write: async () => {}, checkpoint: discarded, close: discarded }),
  reopenFile: async () => ({ write: async () => {}, checkpoint: discarded, close: discarded }),
  verifyFile: async () => {},
  readJournal: async () => undefined,
  writeJournal: async () => {},
  commit: async () => "(discarded)",
  abort: async () => {},
  keep: async () => {},
};

async function measure(label: string, shape: Qwen2Shape, shardBytes: number): Promise<string> {
  const trio = ["bench/target", "bench/plus", "bench/minus"];
  const repos = new Map(trio.map((id) => [id, syntheticRepo(shape, shardBytes)]));
  const counts: Counts = { resolver: 0, api: 0, cdn: 0 };
  const request = syntheticHub(repos, counts);
  const started = performance.now();
  const sources = await Promise.all(trio.map((id) => openHubSource(id, { hubUrl: HUB, accessToken: "hf_bench", request })));
  const [target, plus, minus] = await Promise.all(sources.map((source) => inspectModel(source)));
  const plan = planOneVector({ target: target!, plus: plus!, minus: minus! }, 1);
  await writeMergedModel(plan, nowhere, { shardSize: 5e9, computer: noArithmetic, toolVersion: "bench" });
  const seconds = (performance.now() - started) / 1000;
  const weightBytes = [...repos.values()].reduce(
    (sum, files) => sum + [...files].filter(([path]) => path.endsWith(".safetensors")).reduce((s, [, file]) => s + file.size, 0),
    0,
  );
  const gb = weightBytes / 1e9;
  const reads = sources.reduce((sum, source) => sum + source.stats().reads, 0);
  const files = [...repos.values()].reduce((sum, repo) => sum + repo.size, 0);
  return (
    `${label.padEnd(14)}${gb.toFixed(1).padStart(7)} GB${String(files).padStart(7)}${String(reads).padStart(8)}` +
    `${String(counts.resolver).padStart(10)}${(counts.resolver / gb).toFixed(2).padStart(10)}${String(counts.api).padStart(6)}` +
    `${String(counts.cdn).padStart(7)}${(counts.cdn / gb).toFixed(1).padStart(10)}${seconds.toFixed(1).padStart(8)}`
  );
}

const lines = [
  `Hub requests of a merge (real engine and Hub source; synthetic Hub, signed URLs valid ${URL_LIFETIME_SECONDS} s; chunks ${HUB_CHUNK_BYTES / 2 ** 20} MiB)`,
  `${"trio".padEnd(14)}${"read".padStart(10)}${"files".padStart(7)}${"reads".padStart(8)}${"resolver".padStart(10)}${"per GB".padStart(10)}${"api".padStart(6)}${"cdn".padStart(7)}${"per GB".padStart(10)}${"wall s".padStart(8)}`,
  await measure("Qwen2.5-0.5B", QWEN2_PRESETS["qwen2.5-0.5b"], 5e9),
  await measure("Qwen2.5-7B", QWEN2_5_7B, 4e9),
];
process.stdout.write(`${lines.join("\n")}\n`);
