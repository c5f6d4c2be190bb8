import { fileDownloadInfo, listFiles, listModels, modelInfo, pathsInfo } from "@huggingface/hub";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";

let root: string;
let hub: RunningHubServer;
const weights = randomBytes(50_000);
const config = JSON.stringify({ model_type: "qwen2", hidden_size: 8 });

async function put(path: string, data: Uint8Array | string) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), data);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-server-test-"));
  await put("alice/tiny-model/model.safetensors", weights);
  await put("alice/tiny-model/config.json", config);
  await put("alice/tiny-model/sub/dir/extra.bin", randomBytes(300));
  await put("alice/tiny-model/.hub.json", JSON.stringify({ downloads: 42, likes: 7, tags: ["merge"] }));
  await put("alice/tiny-model/.git/HEAD", "ref: refs/heads/main\n");
  await put("bob/other-model/weights.bin", randomBytes(1000));
  await put(".hidden/repo/file.bin", randomBytes(10));
  await put("alice/mutable/data.bin", randomBytes(64));
  hub = await startHubServer({ root, port: 0 });
});

afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

function rawGet(url: string, path: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { path }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Hub API through @huggingface/hub", () => {
  it("modelInfo reports id, a stable 40-hex sha and the visible files", async () => {
    const info = await modelInfo({ name: "alice/tiny-model", hubUrl: hub.url, additionalFields: ["sha", "filePaths"] });
    expect(info.name).toBe("alice/tiny-model");
    expect(info.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(info.filePaths).toEqual(["config.json", "model.safetensors", "sub/dir/extra.bin"]);
    expect(info.downloads).toBe(42);
    expect(info.likes).toBe(7);
    expect(info.updatedAt.getTime()).toBeGreaterThan(0);
    const again = await modelInfo({ name: "alice/tiny-model", hubUrl: hub.url, revision: info.sha, additionalFields: ["sha"] });
    expect(again.sha).toBe(info.sha);
  });

  it("listFiles lists paths and sizes, recursively or one level", async () => {
    const all = [];
    for await (const entry of listFiles({ repo: "alice/tiny-model", hubUrl: hub.url, recursive: true })) all.push(entry);
    expect(all.filter((e) => e.type === "file").map((e) => [e.path, e.size])).toEqual([
      ["config.json", config.length],
      ["model.safetensors", 50_000],
      ["sub/dir/extra.bin", 300],
    ]);
    const top = [];
    for await (const entry of listFiles({ repo: "alice/tiny-model", hubUrl: hub.url })) top.push([entry.type, entry.path]);
    expect(top).toEqual([
      ["file", "config.json"],
      ["file", "model.safetensors"],
      ["directory", "sub"],
    ]);
    const sub = [];
    for await (const entry of listFiles({ repo: "alice/tiny-model", hubUrl: hub.url, path: "sub/dir" })) sub.push(entry.path);
    expect(sub).toEqual(["sub/dir/extra.bin"]);
  });

  it("listFiles follows the Link header over pages", async () => {
    await mkdir(join(root, "carol/many-files"), { recursive: true });
    await Promise.all(
      Array.from({ length: 1005 }, (_, i) => writeFile(join(root, `carol/many-files/f${String(i).padStart(4, "0")}.txt`), "x")),
    );
    const before = hub.requestCount();
    let count = 0;
    for await (const entry of listFiles({ repo: "carol/many-files", hubUrl: hub.url })) {
      expect(entry.size).toBe(1);
      count++;
    }
    expect(count).toBe(1005);
    expect(hub.requestCount() - before).toBe(2);
  });

  it("listModels filters by search and author, hides dot-folders, sorts", async () => {
    const found = [];
    for await (const model of listModels({ hubUrl: hub.url, search: { query: "TINY" } })) found.push(model);
    expect(found.map((m) => [m.name, m.downloads, m.likes])).toEqual([["alice/tiny-model", 42, 7]]);

    const bobs = [];
    for await (const model of listModels({ hubUrl: hub.url, search: { owner: "bob" } })) bobs.push(model.name);
    expect(bobs).toEqual(["bob/other-model"]);

    const all = [];
    for await (const model of listModels({ hubUrl: hub.url, sort: "downloads", additionalFields: ["sha"] })) all.push(model);
    expect(all.map((m) => m.name).sort()).toEqual(["alice/mutable", "alice/tiny-model", "bob/other-model", "carol/many-files"]);
    expect(all.every((m) => /^[0-9a-f]{40}$/.test(m.sha))).toBe(true);
    const downloads = all.map((m) => m.downloads);
    expect(downloads).toEqual([...downloads].sort((a, b) => b - a));

    const limited = [];
    for await (const model of listModels({ hubUrl: hub.url, limit: 2 })) limited.push(model.name);
    expect(limited).toHaveLength(2);
  });

  it("pathsInfo and fileDownloadInfo describe files; a missing file gives null", async () => {
    const infos = await pathsInfo({ repo: "alice/tiny-model", hubUrl: hub.url, paths: ["config.json", "nope", "sub"] });
    expect(infos.map((i) => [i.path, i.type, i.size])).toEqual([
      ["config.json", "file", config.length],
      ["sub", "directory", 0],
    ]);
    const download = await fileDownloadInfo({ repo: "alice/tiny-model", path: "model.safetensors", hubUrl: hub.url });
    expect(download?.size).toBe(50_000);
    expect(download?.etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect(await fileDownloadInfo({ repo: "alice/tiny-model", path: "missing.bin", hubUrl: hub.url })).toBeNull();
  });
});

describe("resolve route", () => {
  const file = () => `${hub.url}/alice/tiny-model/resolve/main/model.safetensors`;

  it("answers HEAD with size, ETag, commit and range support", async () => {
    const info = await modelInfo({ name: "alice/tiny-model", hubUrl: hub.url, additionalFields: ["sha"] });
    const res = await fetch(file(), { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Length")).toBe("50000");
    expect(res.headers.get("Accept-Ranges")).toBe("bytes");
    expect(res.headers.get("ETag")).toMatch(/^"[0-9a-f]{40}"$/);
    expect(res.headers.get("X-Repo-Commit")).toBe(info.sha);
    const again = await fetch(`${hub.url}/alice/tiny-model/raw/${info.sha}/model.safetensors`, { method: "HEAD" });
    expect(again.headers.get("ETag")).toBe(res.headers.get("ETag"));
  });

  it("serves the whole file and single byte ranges", async () => {
    const whole = await fetch(file());
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(weights)).toBe(true);

    const cases: [string, number, number][] = [
      ["bytes=10-19", 10, 19],
      ["bytes=49990-", 49990, 49999],
      ["bytes=-5", 49995, 49999],
      ["bytes=49000-99999", 49000, 49999],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(file(), { headers: { Range: range } });
      expect(res.status).toBe(206);
      expect(res.headers.get("Content-Range")).toBe(`bytes ${start}-${end}/50000`);
      expect(res.headers.get("Content-Length")).toBe(String(end - start + 1));
      expect(Buffer.from(await res.arrayBuffer()).equals(weights.subarray(start, end + 1))).toBe(true);
    }

    const beyond = await fetch(file(), { headers: { Range: "bytes=50000-" } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("Content-Range")).toBe("bytes */50000");
  });

  it("answers 404 with the Hub's X-Error-Code and a JSON error", async () => {
    const cases: [string, string][] = [
      ["/alice/tiny-model/resolve/main/missing.bin", "EntryNotFound"],
      ["/alice/tiny-model/resolve/main/.hub.json", "EntryNotFound"],
      ["/alice/nothing/resolve/main/model.safetensors", "RepoNotFound"],
      ["/alice/tiny-model/resolve/v2/model.safetensors", "RevisionNotFound"],
      ["/api/models/alice/nothing", "RepoNotFound"],
      ["/api/models/alice/tiny-model/revision/0123456789012345678901234567890123456789", "RevisionNotFound"],
      ["/api/models/.hidden/repo", "RepoNotFound"],
    ];
    for (const [path, code] of cases) {
      const res = await fetch(`${hub.url}${path}`);
      expect([path, res.status, res.headers.get("X-Error-Code")]).toEqual([path, 404, code]);
      expect((await res.json()).error).toEqual(expect.any(String));
    }
  });

  it("changes the ETag and sha when a file changes, and still answers the old sha", async () => {
    const url = `${hub.url}/alice/mutable/resolve/main/data.bin`;
    const before = await modelInfo({ name: "alice/mutable", hubUrl: hub.url, additionalFields: ["sha"] });
    const etag = (await fetch(url, { method: "HEAD" })).headers.get("ETag");
    expect((await fetch(url, { method: "HEAD" })).headers.get("ETag")).toBe(etag);
    await utimes(join(root, "alice/mutable/data.bin"), new Date(), new Date(Date.now() + 5000));
    const after = await modelInfo({ name: "alice/mutable", hubUrl: hub.url, additionalFields: ["sha"] });
    expect(after.sha).not.toBe(before.sha);
    expect((await fetch(url, { method: "HEAD" })).headers.get("ETag")).not.toBe(etag);
    const old = await fetch(`${hub.url}/alice/mutable/resolve/${before.sha}/data.bin`, { method: "HEAD" });
    expect(old.status).toBe(200);
    expect(old.headers.get("X-Repo-Commit")).toBe(before.sha);
  });

  it("refuses paths that try to leave the root", async () => {
    for (const path of [
      "/alice/tiny-model/resolve/main/../../../etc/passwd",
      "/alice/tiny-model/resolve/main/%2e%2e/%2e%2e/secret",
      "/alice/tiny-model/resolve/main/..%2F..%2F..%2Fetc%2Fpasswd",
      "/alice/tiny-model/resolve/main/sub//extra.bin",
      "/api/models/alice/tiny-model/tree/main/..",
    ]) {
      expect([path, (await rawGet(hub.url, path)).status]).toEqual([path, 400]);
    }
    expect((await rawGet(hub.url, "/../../etc/resolve/main/passwd")).status).toBe(404);
  });
});

describe("CORS", () => {
  it("answers preflights and exposes the headers a browser client reads", async () => {
    const preflight = await fetch(`${hub.url}/alice/tiny-model/resolve/main/model.safetensors`, {
      method: "OPTIONS",
      headers: { Origin: "http://example.test", "Access-Control-Request-Headers": "range,authorization" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(preflight.headers.get("Access-Control-Allow-Methods")).toContain("HEAD");
    expect(preflight.headers.get("Access-Control-Allow-Headers")).toMatch(/Range.*Authorization/);

    const res = await fetch(`${hub.url}/alice/nothing/resolve/main/x`);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
    for (const header of ["Content-Range", "ETag", "X-Repo-Commit", "X-Error-Code", "Link", "X-Linked-Size"]) {
      expect(res.headers.get("Access-Control-Expose-Headers")).toContain(header);
    }
  });
});

describe("token mode", () => {
  it("answers 401 without the token and works with it", async () => {
    const locked = await startHubServer({ root, token: "hf_test_token" });
    try {
      const denied = await fetch(`${locked.url}/api/models/alice/tiny-model`);
      expect(denied.status).toBe(401);
      const wrong = await fetch(`${locked.url}/api/models/alice/tiny-model`, { headers: { Authorization: "Bearer hf_nope" } });
      expect(wrong.status).toBe(401);
      expect((await fetch(`${locked.url}/api/models`, { method: "OPTIONS" })).status).toBe(204);
      const info = await modelInfo({ name: "alice/tiny-model", hubUrl: locked.url, accessToken: "hf_test_token" });
      expect(info.name).toBe("alice/tiny-model");
    } finally {
      await locked.close();
    }
  });
});

describe("faults", () => {
  it("failEvery alternates 503 and a dropped connection on file routes", async () => {
    const flaky = await startHubServer({ root, faults: { failEvery: 2 } });
    try {
      const url = `${flaky.url}/bob/other-model/resolve/main/weights.bin`;
      expect((await fetch(url)).status).toBe(200);
      expect((await fetch(url)).status).toBe(503);
      expect((await fetch(url)).status).toBe(200);
      await expect(fetch(url)).rejects.toThrow();
      expect((await fetch(`${flaky.url}/api/models/bob/other-model`)).status).toBe(200);
      expect(flaky.requestCount()).toBe(5);
    } finally {
      await flaky.close();
    }
  });

  it("truncateEvery cuts every k-th body in half", async () => {
    const cutting = await startHubServer({ root, faults: { truncateEvery: 2 } });
    try {
      const url = `${cutting.url}/bob/other-model/resolve/main/weights.bin`;
      const disk = await readFile(join(root, "bob/other-model/weights.bin"));
      expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(disk)).toBe(true);
      const cut = await fetch(url);
      expect(cut.headers.get("Content-Length")).toBe("1000");
      await expect(cut.arrayBuffer()).rejects.toThrow();
    } finally {
      await cutting.close();
    }
  });

  it("delayMs delays every answer", async () => {
    const slow = await startHubServer({ root, faults: { delayMs: 80 } });
    try {
      const started = performance.now();
      await fetch(`${slow.url}/api/models`);
      expect(performance.now() - started).toBeGreaterThanOrEqual(70);
    } finally {
      await slow.close();
    }
  });

  it("rejects invalid options", async () => {
    await expect(startHubServer({ root, faults: { failEvery: 0 } })).rejects.toThrow(/failEvery/);
    await expect(startHubServer({ root: join(root, "nope") })).rejects.toThrow(/not a folder/);
  });
});
