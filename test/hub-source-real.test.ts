import { randomBytes } from "node:crypto";
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { fetchRequest } from "../src/core/sources/fetchRequest.ts";
import type { HubStatus } from "../src/core/sources/hubStatus.ts";
import { openHubSource, type HttpRequest, type HubModelSource } from "../src/core/sources/openHubSource.ts";
import { hubTestFolder } from "./helpers/hubTestFolder.ts";

let root: string;
const weights = randomBytes(64_000);
const config = JSON.stringify({ model_type: "qwen2" });
const token = "hf_source_real_token";
const fast = { retryBaseMs: 1 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const { put, withServer } = hubTestFolder(() => root);

async function readAll(source: HubModelSource, path: string, size: number, chunk: number, pauseMs = 0): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < size; offset += chunk) {
    parts.push(await source.read(path, offset, Math.min(chunk, size - offset)));
    if (pauseMs) await sleep(pauseMs);
  }
  return Buffer.concat(parts);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-source-real-"));
  await put("alice/tiny-model/model.safetensors", weights);
  await put("alice/tiny-model/config.json", config);
  await put("alice/private-model/model.safetensors", weights);
  await put("alice/private-model/.hub.json", JSON.stringify({ private: true }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const requests: [string, HttpRequest][] = [
  ["Node's undici requests", nodeHttpRequest],
  ["fetch", fetchRequest],
];

describe.each(requests)("openHubSource against a Hub that redirects to a CDN (%s)", (_name, request) => {
  it("resolves each file once and reads every range from its signed URL", async () => {
    await withServer({ cdn: { urlTtlSeconds: 3600 }, resolveCache: true, rateLimit: { quota: 1000, windowSeconds: 300 } }, async (hub) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url, request, ...fast });
      expect((await readAll(source, "model.safetensors", weights.length, 4000)).equals(weights)).toBe(true);
      expect(new TextDecoder().decode(await source.read("config.json", 0, config.length))).toBe(config);
      expect(new TextDecoder().decode(await source.read("config.json", 2, 5))).toBe(config.slice(2, 7));
      expect(source.stats()).toMatchObject({ resolves: 2, renewals: 0, reads: 16 + 2, rateLimitWaits: 0 });
      const counts = hub.requestCounts();
      expect(counts.resolver).toBe(2);
      expect(counts.cdn).toBe(request === nodeHttpRequest ? 16 : 17); // fetch reads one byte at the CDN when it follows the redirect
    });
  });

  it("renews a URL that expires mid-read, at most once per URL lifetime, and keeps the bytes", async () => {
    await withServer({ cdn: { urlTtlSeconds: 2 } }, async (hub) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url, request, ...fast });
      const started = Date.now();
      expect((await readAll(source, "model.safetensors", weights.length, 2000, 100)).equals(weights)).toBe(true);
      const seconds = (Date.now() - started) / 1000;
      const { resolves, renewals } = source.stats();
      expect(renewals).toBeGreaterThanOrEqual(1);
      expect(resolves).toBe(renewals + 1);
      // A URL signed for 2 s lives at least 1 s (its X-Amz-Date is to the second): one resolve per second at most.
      expect(hub.requestCounts().resolver).toBeLessThanOrEqual(1 + Math.ceil(seconds));
      expect(hub.requestCounts().resolver).toBe(resolves);
    });
  });

  it("sends the token to the Hub and never to the CDN", async () => {
    await withServer({ cdn: {}, resolveCache: true, tokens: [token], hideRepos: true }, async (hub) => {
      const source = await openHubSource("alice/private-model", { hubUrl: hub.url, accessToken: token, request, ...fast });
      expect((await readAll(source, "model.safetensors", weights.length, 16_000)).equals(weights)).toBe(true);
      expect(hub.requestCounts().cdn).toBeGreaterThanOrEqual(4);
      expect(hub.requestCounts().cdnWithAuthorization).toBe(0);
    });
  });
});

describe("openHubSource pinning through a CDN", () => {
  it("refuses a file that changes under its URL, and one whose identity changes at renewal", async () => {
    await put("bob/changing/model.safetensors", randomBytes(4096));
    await withServer({ cdn: { urlTtlSeconds: 1 } }, async (hub) => {
      const source = await openHubSource("bob/changing", { hubUrl: hub.url, request: nodeHttpRequest, ...fast });
      await source.read("model.safetensors", 0, 100);
      // Same size, new bytes and mtime: the CDN's ETag of the same URL changes.
      await writeFile(join(root, "bob/changing/model.safetensors"), randomBytes(4096));
      await utimes(join(root, "bob/changing/model.safetensors"), new Date(), new Date(Date.now() + 10_000));
      await expect(source.read("model.safetensors", 100, 100)).rejects.toThrow(
        new RegExp(`^${source.label}: model\\.safetensors changed on the Hub during the merge \\(ETag "[0-9a-f]+" → "[0-9a-f]+" at the CDN\\)$`),
      );
      // After the URL expired, the resolver's X-Linked-Etag (the SHA-256 of the new bytes) no longer matches the first one.
      const again = await openHubSource("bob/changing", { hubUrl: hub.url, request: nodeHttpRequest, ...fast });
      await again.read("model.safetensors", 0, 100);
      await writeFile(join(root, "bob/changing/model.safetensors"), randomBytes(4096));
      await utimes(join(root, "bob/changing/model.safetensors"), new Date(), new Date(Date.now() + 20_000));
      await sleep(1100);
      await expect(again.read("model.safetensors", 100, 100)).rejects.toThrow(
        new RegExp(`^${again.label}: model\\.safetensors changed on the Hub during the merge \\(ETag "[0-9a-f]{64}" → "[0-9a-f]{64}"\\)$`),
      );
    });
  });
});

describe("openHubSource under the Hub's rate limit", () => {
  it("waits out a 429 until the window resets, reporting the wait", async () => {
    await withServer({ cdn: {}, rateLimit: { quota: 2, windowSeconds: 2 } }, async (hub) => {
      const statuses: { status: HubStatus; at: number }[] = [];
      const source = await openHubSource("alice/tiny-model", {
        hubUrl: hub.url,
        request: nodeHttpRequest,
        onStatus: (status) => statuses.push({ status, at: Date.now() }),
        ...fast,
      });
      await source.listFiles();
      for (let i = 0; i < 2; i++) await fetch(`${hub.url}/alice/tiny-model/resolve/main/config.json`, { redirect: "manual" });
      const started = Date.now();
      expect(Buffer.from(await source.read("model.safetensors", 10, 100)).equals(weights.subarray(10, 110))).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(hub.requestCounts().rateLimited).toBe(1);
      const [waiting, resumed] = statuses;
      expect(waiting?.status).toMatchObject({ kind: "rate-limited", hubUrl: hub.url, authenticated: false });
      const resumeAt = waiting!.status.kind === "rate-limited" ? waiting!.status.resumeAt : 0;
      // t (at most 2 s) plus a margin of 0.5 to 1.5 s.
      expect(resumeAt - waiting!.at).toBeGreaterThan(500);
      expect(resumeAt - waiting!.at).toBeLessThanOrEqual(3600);
      expect(resumed?.status.kind).toBe("resumed");
      expect(source.stats().rateLimitWaits).toBe(1);
    });
  });

  it("stops waiting at once when the read is cancelled", async () => {
    await withServer({ cdn: {}, rateLimit: { quota: 1, windowSeconds: 60 } }, async (hub) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url, request: nodeHttpRequest, ...fast });
      await source.listFiles();
      await fetch(`${hub.url}/alice/tiny-model/resolve/main/config.json`, { redirect: "manual" });
      const controller = new AbortController();
      const reason = new Error("cancelled by the user");
      const started = Date.now();
      setTimeout(() => controller.abort(reason), 200);
      await expect(source.read("model.safetensors", 0, 10, controller.signal)).rejects.toBe(reason);
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  it("fails with a clear message when the quota stays spent after its waits", async () => {
    await withServer({ cdn: {}, rateLimit: { quota: 1, windowSeconds: 1 } }, async (hub) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url, request: nodeHttpRequest, rateLimitWaits: 1, ...fast });
      await source.listFiles();
      // Another client takes every window's only request as soon as the window opens.
      const otherRequests: Promise<Response>[] = [];
      const other = setInterval(() => otherRequests.push(fetch(`${hub.url}/alice/tiny-model/resolve/main/config.json`, { redirect: "manual" })), 20);
      try {
        await sleep(50);
        await expect(source.read("model.safetensors", 0, 10)).rejects.toThrow(
          new RegExp(
            `^alice/tiny-model@[0-9a-f]{40}: model\\.safetensors: the Hub at ${hub.url.replace(/\./g, "\\.")} still rate-limits this client \\(HTTP 429\\) after 1 waits for its quota to reset \\(the next reset in [1-3] s\\); the quota is too low for this merge \\(a Hugging Face token raises it\\)$`,
          ),
        );
      } finally {
        clearInterval(other);
        // Every request of the other client ends before the server closes: one cut off by the close would reject unheard.
        await Promise.allSettled(otherRequests);
      }
    });
  });
});

describe("openHubSource errors against the real Hub's answers", () => {
  it("reads a missing or private repo without a token as a 401, and a missing one with a token as not found", async () => {
    await withServer({ hideRepos: true, tokens: [token] }, async (hub) => {
      for (const repo of ["alice/nothing", "alice/private-model"]) {
        await expect(openHubSource(repo, { hubUrl: hub.url, ...fast })).rejects.toThrow(
          `${repo}: not found on ${hub.url}, or private and in need of an access token (HTTP 401)`,
        );
      }
      await expect(openHubSource("alice/nothing", { hubUrl: hub.url, accessToken: token, ...fast })).rejects.toThrow(
        `alice/nothing: repository not found on ${hub.url}`,
      );
      const source = await openHubSource("alice/private-model", { hubUrl: hub.url, accessToken: token, ...fast });
      expect(source.label).toMatch(/^alice\/private-model@[0-9a-f]{40}$/);
    });
  });

  it("names the repo as the Hub spells it, so that reads are not redirected", async () => {
    await withServer({ caseInsensitiveIds: true, cdn: {} }, async (hub) => {
      const source = await openHubSource("ALICE/Tiny-Model", { hubUrl: hub.url, request: nodeHttpRequest, ...fast });
      expect(source.repoId).toBe("alice/tiny-model");
      expect(Buffer.from(await source.read("model.safetensors", 0, 100)).equals(weights.subarray(0, 100))).toBe(true);
      expect(hub.requestCounts().resolver).toBe(1);
    });
  });
});
