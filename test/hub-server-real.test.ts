import { fileDownloadInfo, listFiles, modelInfo } from "@huggingface/hub";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubTestFolder } from "./helpers/hubTestFolder.ts";

let root: string;
const weights = randomBytes(30_000);
const config = JSON.stringify({ model_type: "qwen2" });
const token = "hf_real_mode_token";

const { put, withServer } = hubTestFolder(() => root);

const manual = (url: string, headers: Record<string, string> = {}) => fetch(url, { redirect: "manual", headers });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-real-test-"));
  await put("alice/tiny-model/model.safetensors", weights);
  await put("alice/tiny-model/config.json", config);
  await put("alice/big-blob/data.bin", randomBytes(5000));
  await put("alice/secret/config.json", config);
  await put("alice/secret/.hub.json", JSON.stringify({ private: true }));
  for (let i = 0; i < 5; i++) await put(`alice/many/f${i}.txt`, "x");
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("real-Hub mode: CDN redirects", () => {
  it("redirects an LFS file with 302 to a signed URL on another origin, with the Hub's headers", async () => {
    await withServer({ cdn: { urlTtlSeconds: 60 } }, async (hub) => {
      const { sha } = await modelInfo({ name: "alice/tiny-model", hubUrl: hub.url, additionalFields: ["sha"] });
      const res = await manual(`${hub.url}/alice/tiny-model/resolve/main/model.safetensors`);
      expect(res.status).toBe(302);
      expect(res.headers.get("X-Repo-Commit")).toBe(sha);
      expect(res.headers.get("X-Linked-Size")).toBe("30000");
      expect(res.headers.get("X-Linked-Etag")).toBe(`"${createHash("sha256").update(weights).digest("hex")}"`);
      const location = new URL(res.headers.get("Location")!);
      expect(location.origin).toBe(hub.cdnUrl);
      expect(location.origin).not.toBe(new URL(hub.url).origin);
      expect(location.searchParams.get("X-Amz-Expires")).toBe("60");
      expect(location.searchParams.get("X-Amz-Date")).toMatch(/^\d{8}T\d{6}Z$/);
      expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);

      const ranged = await fetch(location, { headers: { Range: "bytes=100-199" } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get("Content-Range")).toBe("bytes 100-199/30000");
      expect(ranged.headers.get("Access-Control-Allow-Origin")).toBe("*");
      expect(ranged.headers.get("Access-Control-Expose-Headers")).toMatch(/Content-Range.*ETag/);
      expect(ranged.headers.get("ETag")).toMatch(/^"[0-9a-f]+"$/);
      expect(ranged.headers.get("ETag")).not.toBe(res.headers.get("X-Linked-Etag"));
      expect(Buffer.from(await ranged.arrayBuffer()).equals(weights.subarray(100, 200))).toBe(true);
      expect((await fetch(location, { headers: { Range: "bytes=30000-" } })).status).toBe(416);

      const forged = new URL(location);
      forged.searchParams.set("X-Amz-Expires", "999999");
      expect((await fetch(forged)).status).toBe(403);
      const moved = new URL(location);
      moved.pathname = moved.pathname.replace("model.safetensors", "config.json");
      expect((await fetch(moved)).status).toBe(403);

      // A file over the size threshold is LFS too; a small one is not.
      await withServer({ cdn: { lfsMinBytes: 4000 } }, async (other) => {
        expect((await manual(`${other.url}/alice/big-blob/resolve/main/data.bin`)).status).toBe(302);
        expect((await manual(`${other.url}/alice/tiny-model/resolve/main/config.json`)).status).toBe(200);
      });
      expect(hub.requestCounts()).toMatchObject({ resolver: 1, cdn: 4, cdnWithAuthorization: 0 });
    });
  });

  it("refuses a signed URL once it expired", async () => {
    await withServer({ cdn: { urlTtlSeconds: 1 } }, async (hub) => {
      const location = (await manual(`${hub.url}/alice/tiny-model/resolve/main/model.safetensors`)).headers.get("Location")!;
      expect((await fetch(location, { headers: { Range: "bytes=0-9" } })).status).toBe(206);
      await sleep(1100);
      const expired = await fetch(location, { headers: { Range: "bytes=0-9" } });
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain("Request has expired");
    });
  });

  it("sends small files through a relative 307 to /api/resolve-cache", async () => {
    await withServer({ cdn: {}, resolveCache: true }, async (hub) => {
      const res = await manual(`${hub.url}/alice/tiny-model/resolve/main/config.json`);
      expect(res.status).toBe(307);
      const location = res.headers.get("Location")!;
      expect(location).toMatch(/^\/api\/resolve-cache\/models\/alice\/tiny-model\/[0-9a-f]{40}\/config\.json$/);
      const followed = await fetch(`${hub.url}/alice/tiny-model/resolve/main/config.json`);
      expect(await followed.text()).toBe(config);
      expect(followed.url).toBe(`${hub.url}${location}`);
      expect(hub.requestCounts()).toMatchObject({ resolver: 2, api: 1, cdn: 0 });
      const info = await fileDownloadInfo({ repo: "alice/tiny-model", path: "model.safetensors", hubUrl: hub.url });
      expect(info?.size).toBe(30_000);
    });
  });
});

describe("real-Hub mode: rate limits", () => {
  it("announces the quota on every resolver answer and answers 429 past it until the window resets", async () => {
    await withServer({ rateLimit: { quota: 3, windowSeconds: 2 }, cdn: {} }, async (hub) => {
      const url = `${hub.url}/alice/tiny-model/resolve/main/model.safetensors`;
      const remaining = [];
      for (let i = 0; i < 3; i++) {
        const res = await manual(url);
        expect(res.status).toBe(302);
        expect(res.headers.get("RateLimit-Policy")).toBe('"fixed window";"resolvers";q=3;w=2');
        remaining.push(res.headers.get("RateLimit"));
      }
      expect(remaining.map((h) => h!.replace(/t=\d+/, "t=T"))).toEqual(['"resolvers";r=2;t=T', '"resolvers";r=1;t=T', '"resolvers";r=0;t=T']);
      const refused = await manual(url);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("RateLimit")).toMatch(/^"resolvers";r=0;t=[12]$/);
      expect(refused.headers.get("RateLimit-Policy")).toBe('"fixed window";"resolvers";q=3;w=2');
      const missing = await manual(`${hub.url}/alice/tiny-model/resolve/main/nope.bin`);
      expect([missing.status, missing.headers.get("RateLimit")]).toEqual([429, expect.stringMatching(/r=0/)]);
      // API routes have their own quota, not this one.
      expect((await fetch(`${hub.url}/api/models/alice/tiny-model`)).status).toBe(200);
      await sleep(2100);
      expect((await manual(url)).status).toBe(302);
      expect(hub.requestCounts()).toMatchObject({ resolver: 6, rateLimited: 2 });
    });
  });

  it("gives a token its own, larger quota", async () => {
    await withServer({ rateLimit: { quota: 1, tokenQuota: 2, windowSeconds: 60 }, tokens: [token] }, async (hub) => {
      const url = `${hub.url}/alice/tiny-model/resolve/main/config.json`;
      expect((await manual(url)).status).toBe(200);
      expect((await manual(url)).status).toBe(429);
      const auth = { Authorization: `Bearer ${token}` };
      expect((await manual(url, auth)).headers.get("RateLimit-Policy")).toBe('"fixed window";"resolvers";q=2;w=60');
      expect((await manual(url, auth)).status).toBe(200);
      expect((await manual(url, auth)).status).toBe(429);
    });
  });
});

describe("real-Hub mode: listings, errors and ids", () => {
  it("pages tree listings with an absolute Link header", async () => {
    await withServer({ treePageSize: 2 }, async (hub) => {
      const first = await fetch(`${hub.url}/api/models/alice/many/tree/main`);
      expect(await first.json()).toHaveLength(2);
      expect(first.headers.get("Link")).toMatch(new RegExp(`^<${hub.url}/api/models/alice/many/tree/main\\?cursor=2>; rel="next"$`));
      const paths = [];
      for await (const entry of listFiles({ repo: "alice/many", hubUrl: hub.url })) paths.push(entry.path);
      expect(paths).toEqual(["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"]);
    });
  });

  it("answers 401 for missing and private repos without a valid token, 404 RepoNotFound with one", async () => {
    await withServer({ hideRepos: true, tokens: [token] }, async (hub) => {
      const auth = { Authorization: `Bearer ${token}` };
      for (const path of ["/api/models/alice/nothing", "/alice/nothing/resolve/main/config.json", "/api/models/alice/secret"]) {
        const anonymous = await fetch(`${hub.url}${path}`);
        expect([path, anonymous.status, anonymous.headers.get("X-Error-Code")]).toEqual([path, 401, null]);
      }
      const missing = await fetch(`${hub.url}/api/models/alice/nothing`, { headers: auth });
      expect([missing.status, missing.headers.get("X-Error-Code")]).toEqual([404, "RepoNotFound"]);
      expect((await fetch(`${hub.url}/api/models/alice/secret`, { headers: auth })).status).toBe(200);
      const wrongToken = await fetch(`${hub.url}/api/models/alice/tiny-model`, { headers: { Authorization: "Bearer hf_wrong" } });
      expect(wrongToken.status).toBe(401);
      const revision = await fetch(`${hub.url}/alice/tiny-model/resolve/v9/config.json`);
      expect(revision.headers.get("X-Error-Code")).toBe("RevisionNotFound");
      const entry = await fetch(`${hub.url}/alice/tiny-model/resolve/main/nope.json`);
      expect(entry.headers.get("X-Error-Code")).toBe("EntryNotFound");
    });
  });

  it("matches repo ids ignoring case, with a 307 to the canonical spelling", async () => {
    await withServer({ caseInsensitiveIds: true }, async (hub) => {
      const res = await manual(`${hub.url}/api/models/ALICE/Tiny-Model/tree/main?recursive=true`);
      expect(res.status).toBe(307);
      expect(res.headers.get("Location")).toBe("/api/models/alice/tiny-model/tree/main?recursive=true");
      const info = await modelInfo({ name: "Alice/TINY-model", hubUrl: hub.url });
      expect(info.name).toBe("alice/tiny-model");
    });
  });
});
