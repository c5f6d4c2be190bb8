import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openHubSource, parseHubSpec } from "../src/core/sources/openHubSource.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import { startHubServer, type HubServerOptions, type RunningHubServer } from "../src/hub-server/startHubServer.ts";

let root: string;
let hub: RunningHubServer;
const weights = randomBytes(200_000);
const fast = { retryBaseMs: 1 };

async function put(path: string, data: Uint8Array | string) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), data);
}

async function withServer(options: Omit<HubServerOptions, "root">, run: (url: string, server: RunningHubServer) => Promise<void>) {
  const server = await startHubServer({ root, ...options });
  try {
    await run(server.url, server);
  } finally {
    await server.close();
  }
}

async function readAll(source: ModelSource, path: string, size: number, chunk: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < size; offset += chunk) {
    parts.push(await source.read(path, offset, Math.min(chunk, size - offset)));
  }
  return Buffer.concat(parts);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-source-test-"));
  await put("alice/tiny-model/model.safetensors", weights);
  await put("alice/tiny-model/config.json", JSON.stringify({ model_type: "qwen2" }));
  await put("alice/tiny-model/tokenizer/vocab.json", "{}");
  await put("alice/tiny-model/empty.txt", "");
  hub = await startHubServer({ root });
});

afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

describe("openHubSource", () => {
  it("pins the source to the commit sha and lists its files", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url });
    expect(source.revision).toMatch(/^[0-9a-f]{40}$/);
    expect(source.repoId).toBe("alice/tiny-model");
    expect(source.label).toBe(`alice/tiny-model@${source.revision}`);
    expect(await source.listFiles()).toEqual([
      { path: "config.json", size: 22 },
      { path: "empty.txt", size: 0 },
      { path: "model.safetensors", size: 200_000 },
      { path: "tokenizer/vocab.json", size: 2 },
    ]);
    const bySha = await openHubSource(`alice/tiny-model@${source.revision}`, { hubUrl: `${hub.url}/` });
    expect(bySha.label).toBe(source.label);
    expect((await openHubSource("alice/tiny-model@main", { hubUrl: hub.url })).revision).toBe(source.revision);
  });

  it("reads byte ranges that equal the bytes on disk", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url });
    for (let i = 0; i < 25; i++) {
      const offset = Math.floor(Math.random() * weights.length);
      const length = Math.floor(Math.random() * (weights.length - offset));
      const bytes = await source.read("model.safetensors", offset, length);
      expect(Buffer.from(bytes).equals(weights.subarray(offset, offset + length))).toBe(true);
    }
    expect(Buffer.from(await source.read("model.safetensors", 0, weights.length)).equals(weights)).toBe(true);
    expect(Buffer.from(await source.read("model.safetensors", weights.length - 1, 1))).toEqual(weights.subarray(-1));
    expect(await source.read("empty.txt", 0, 0)).toEqual(new Uint8Array(0));
    expect(new TextDecoder().decode(await source.read("tokenizer/vocab.json", 0, 2))).toBe("{}");
  });

  it("refuses reads past the end and unknown files, naming the file", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: hub.url });
    await expect(source.read("model.safetensors", 199_990, 20)).rejects.toThrow(
      `${source.label}: model.safetensors: wanted bytes 199990..200010 but the file has 200000 bytes`,
    );
    await expect(source.read("nope.bin", 0, 1)).rejects.toThrow(`${source.label}: file "nope.bin" not found on ${hub.url}`);
    await source.close?.();
    await expect(source.read("model.safetensors", 0, 1)).rejects.toThrow("the source is closed");
  });

  it("survives a Hub that fails every third file request", async () => {
    await withServer({ faults: { failEvery: 3 } }, async (url, server) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: url, ...fast });
      expect((await readAll(source, "model.safetensors", weights.length, 16_384)).equals(weights)).toBe(true);
      expect(server.requestCount()).toBeGreaterThan(3 + Math.ceil(weights.length / 16_384));
    });
  });

  it("survives a Hub that cuts every second body in half", async () => {
    await withServer({ faults: { truncateEvery: 2 } }, async (url, server) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: url, ...fast });
      expect((await readAll(source, "model.safetensors", weights.length, 16_384)).equals(weights)).toBe(true);
      expect(server.requestCount()).toBeGreaterThan(3 + Math.ceil(weights.length / 16_384));
    });
  });

  it("gives up after the retries with a clear error", async () => {
    await withServer({ faults: { failEvery: 1 } }, async (url) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: url, retries: 2, ...fast });
      await expect(source.read("model.safetensors", 0, 10)).rejects.toThrow(
        /^alice\/tiny-model@[0-9a-f]{40}: model\.safetensors: the Hub at http:\S+ kept failing \(.+\) after 3 attempts$/,
      );
    });
  });

  it("refuses a file that changes on disk between two reads", async () => {
    await put("bob/changing/model.safetensors", randomBytes(4096));
    const source = await openHubSource("bob/changing", { hubUrl: hub.url });
    await source.read("model.safetensors", 0, 100);
    await writeFile(join(root, "bob/changing/model.safetensors"), randomBytes(4096));
    await utimes(join(root, "bob/changing/model.safetensors"), new Date(), new Date(Date.now() + 10_000));
    await expect(source.read("model.safetensors", 100, 100)).rejects.toThrow(
      new RegExp(
        `^${source.label}: model\\.safetensors changed on the Hub during the merge \\(ETag "[0-9a-f]{40}" → "[0-9a-f]{40}"\\)$`,
      ),
    );
    await put("bob/shrinking/model.safetensors", randomBytes(4096));
    const shrinking = await openHubSource("bob/shrinking", { hubUrl: hub.url });
    await writeFile(join(root, "bob/shrinking/model.safetensors"), randomBytes(1000));
    await expect(shrinking.read("model.safetensors", 2000, 100)).rejects.toThrow(
      `${shrinking.label}: model.safetensors changed on the Hub during the merge (size 4096 → 1000)`,
    );
  });

  it("aborts a read promptly with the signal's reason", async () => {
    await withServer({ faults: { delayMs: 150 } }, async (url, server) => {
      const source = await openHubSource("alice/tiny-model", { hubUrl: url, ...fast });
      await source.listFiles();
      const controller = new AbortController();
      const reason = new Error("user cancelled");
      const started = performance.now();
      const reading = source.read("model.safetensors", 0, 10, controller.signal);
      setTimeout(() => controller.abort(reason), 20);
      await expect(reading).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(120);
      await expect(source.read("model.safetensors", 0, 10, controller.signal)).rejects.toBe(reason);
      const requests = server.requestCount();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.requestCount()).toBe(requests);
    });
  });
});

describe("openHubSource errors", () => {
  it("rejects malformed specs", async () => {
    for (const spec of ["foo", "a/b/c", "a/b@", "", "/b", "a/..", "a/b@ main"]) {
      await expect(openHubSource(spec, { hubUrl: hub.url })).rejects.toThrow(/^invalid model/);
    }
    expect(parseHubSpec("Qwen/Qwen2.5-1.5B-Instruct@refs/pr/1")).toEqual({
      repoId: "Qwen/Qwen2.5-1.5B-Instruct",
      revision: "refs/pr/1",
    });
  });

  it("names an unknown repo, revision or an unreachable Hub", async () => {
    await expect(openHubSource("alice/nope", { hubUrl: hub.url })).rejects.toThrow(
      `alice/nope: repository not found on ${hub.url}`,
    );
    await expect(openHubSource("alice/tiny-model@v9", { hubUrl: hub.url })).rejects.toThrow(
      `alice/tiny-model: revision "v9" not found on ${hub.url}`,
    );
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    await expect(openHubSource("alice/tiny-model", { hubUrl: `http://127.0.0.1:${port}`, retries: 1, ...fast })).rejects.toThrow(
      new RegExp(`^cannot reach the Hub at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it("sends the token, and never shows it", async () => {
    const token = "hf_secret_token_123";
    await withServer({ token }, async (url) => {
      const error = await openHubSource("alice/tiny-model", { hubUrl: url }).catch((e: Error) => e);
      expect(String(error)).toContain("alice/tiny-model: not found on");
      const wrong = await openHubSource("alice/tiny-model", { hubUrl: url, accessToken: "hf_wrong" }).catch((e: Error) => e);
      expect(String(wrong)).toContain("refused the access token");
      expect(String(wrong)).not.toContain("hf_wrong");

      const source = await openHubSource("alice/tiny-model", { hubUrl: url, accessToken: token });
      expect(Buffer.from(await source.read("model.safetensors", 5, 10)).equals(weights.subarray(5, 15))).toBe(true);
      const missing = await source.read("nope.bin", 0, 1).catch((e: Error) => e);
      const missingRepo = await openHubSource("alice/none", { hubUrl: url, accessToken: token }).catch((e: Error) => e);
      for (const message of [String(missing), String(missingRepo), source.label]) expect(message).not.toContain(token);
    });
    await expect(openHubSource("alice/tiny-model", { hubUrl: hub.url, accessToken: "secret" })).rejects.toThrow(
      'the access token must start with "hf_"',
    );
  });
});
