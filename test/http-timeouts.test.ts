import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { fetchRequest } from "../src/core/sources/fetchRequest.ts";
import { HttpTimeoutError } from "../src/core/sources/httpTimeouts.ts";
import { openHubSource, type HttpRequest } from "../src/core/sources/openHubSource.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { listenTracked, STALL_AFTER_BYTES, STEADY_GAP_MS, STEADY_PIECES, startTimeoutServers, type TimeoutServers } from "./helpers/timeoutServers.ts";

/** Small timeouts, so that every case ends within a few seconds; the steady server's gaps are 8x shorter than `idleMs`. */
const timeouts = { connectMs: 400, idleMs: 800 };

let servers: TimeoutServers;
let body: Buffer;

beforeAll(async () => {
  servers = await startTimeoutServers();
  body = servers.body;
});

afterAll(async () => {
  await servers.close();
});

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await run();
    return { seconds: (performance.now() - started) / 1000, value };
  } catch (error) {
    return { seconds: (performance.now() - started) / 1000, error };
  }
}

const hostOf = (url: string) => new URL(url).host;

const requests: [string, HttpRequest][] = [
  ["Node's undici requests", nodeHttpRequest],
  ["fetch", fetchRequest],
];

describe.each(requests)("HTTP timeouts (%s)", (name, request) => {
  /** fetch cannot tell connecting from waiting: its wait for an answer is both timeouts together. */
  const answerMs = request === fetchRequest ? timeouts.connectMs + timeouts.idleMs : timeouts.idleMs;

  it("a server that accepts and never answers times out after the idle timeout, naming the host", async () => {
    const { seconds, error } = await timed(() => request(`${servers.silent}/model.safetensors`, { timeouts }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as Error).message).toBe(`timed out waiting for ${hostOf(servers.silent)} to answer (nothing within ${answerMs / 1000} s)`);
    expect(seconds).toBeGreaterThanOrEqual(answerMs / 1000 - 0.05);
    expect(seconds).toBeLessThan(answerMs / 1000 + 2);
  });

  it("a body that stalls after its headers times out, saying how far it came", async () => {
    for (const into of [undefined, new Uint8Array(body.length)]) {
      const { seconds, error } = await timed(() => request(`${servers.stalling}/x`, { timeouts, ...(into ? { into } : {}) }));
      expect(error, into ? "read into a buffer" : "read whole").toBeInstanceOf(HttpTimeoutError);
      expect((error as Error).message).toBe(`timed out reading from ${hostOf(servers.stalling)}: no bytes for 0.8 s after ${STALL_AFTER_BYTES} of ${body.length} bytes`);
      expect(seconds).toBeGreaterThanOrEqual(0.75);
      expect(seconds).toBeLessThan(3);
    }
  });

  it("a chunked body that stalls times out, saying how many bytes came", async () => {
    const { error } = await timed(() => request(`${servers.stallingChunked}/x`, { timeouts }));
    expect((error as Error).message).toBe(`timed out reading from ${hostOf(servers.stallingChunked)}: no bytes for 0.8 s after ${STALL_AFTER_BYTES} bytes`);
  });

  it("a server that answers slowly but steadily does not time out", async () => {
    for (const into of [undefined, new Uint8Array(body.length)]) {
      const { seconds, value, error } = await timed(() => request(`${servers.steady}/x`, { timeouts, ...(into ? { into } : {}) }));
      expect(error).toBeUndefined();
      expect(Buffer.from(value!.body).equals(body)).toBe(true);
      // Longer in all than the idle timeout: the timeout bounds silence, not duration.
      expect(seconds).toBeGreaterThan((STEADY_PIECES - 1) * STEADY_GAP_MS * 0.001);
      expect(seconds).toBeGreaterThan(timeouts.idleMs / 1000);
    }
  });

  it("a connection the server never completes times out", async () => {
    const { seconds, error } = await timed(() => request(`${servers.unaccepting}/x`, { timeouts }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    const expected =
      request === fetchRequest
        ? `timed out waiting for ${hostOf(servers.unaccepting)} to answer (nothing within ${answerMs / 1000} s)`
        : `timed out connecting to ${hostOf(servers.unaccepting)} (no connection within ${timeouts.connectMs / 1000} s)`;
    expect((error as Error).message).toBe(expected);
    expect(seconds).toBeLessThan(answerMs / 1000 + 2);
  });

  it("an abort ends a request at once, whatever the timeouts", async () => {
    for (const url of [servers.silent, servers.stalling, servers.unaccepting]) {
      const controller = new AbortController();
      const reason = new Error(`cancelled (${name})`);
      setTimeout(() => controller.abort(reason), 100);
      const { seconds, error } = await timed(() => request(`${url}/x`, { signal: controller.signal, timeouts: { connectMs: 60_000, idleMs: 60_000 } }));
      expect(error, url).toBe(reason);
      expect(seconds).toBeLessThan(1);
    }
  });
});

describe.each(requests)("openHubSource with timeouts (%s)", (_name, request) => {
  let root: string;
  let hub: RunningHubServer;
  let proxy: { url: string; close(): Promise<void> };
  let proxyUrl: string;
  /** How many more ranged reads of the weights the proxy stalls (after their headers and STALL_AFTER_BYTES bytes). */
  let stallsLeft = 0;
  let stalled = 0;

  /** Forwards to the Hub server; a ranged read of model.safetensors past its first byte stalls while `stallsLeft` lasts. */
  function forward(req: IncomingMessage, res: ServerResponse): void {
    const stall = req.url!.endsWith("/model.safetensors") && req.headers.range !== "bytes=0-0" && stallsLeft > 0;
    if (stall) {
      stallsLeft--;
      stalled++;
    }
    const upstream = httpRequest(`${hub.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      if (!stall) return void answer.pipe(res);
      let head = Buffer.alloc(0);
      answer.on("data", (piece: Buffer) => {
        head = Buffer.concat([head, piece]);
        if (head.length < STALL_AFTER_BYTES) return;
        res.write(head.subarray(0, STALL_AFTER_BYTES));
        answer.destroy();
      });
    });
    req.pipe(upstream);
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "http-timeouts-"));
    const put = async (path: string, data: Uint8Array | string) => {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), data);
    };
    await put("alice/tiny-model/model.safetensors", body);
    await put("alice/tiny-model/config.json", JSON.stringify({ model_type: "qwen2" }));
    hub = await startHubServer({ root });
    proxy = await listenTracked(createHttpServer(forward));
    proxyUrl = proxy.url;
  });

  afterAll(async () => {
    await proxy.close();
    await hub.close();
    await rm(root, { recursive: true, force: true });
  });

  const options = { request, retries: 2, retryBaseMs: 1, connectTimeoutMs: timeouts.connectMs, idleTimeoutMs: timeouts.idleMs };

  it("a Hub that accepts connections and never answers fails within seconds, saying it timed out and where", async () => {
    const { seconds, error } = await timed(() => openHubSource("alice/tiny-model", { hubUrl: servers.silent, ...options }));
    const answerS = (request === fetchRequest ? timeouts.connectMs + timeouts.idleMs : timeouts.idleMs) / 1000;
    expect((error as Error).message).toBe(`alice/tiny-model: timed out waiting for ${hostOf(servers.silent)} to answer (nothing within ${answerS} s) (3 attempts)`);
    expect(seconds).toBeGreaterThanOrEqual(3 * answerS - 0.1);
    expect(seconds).toBeLessThan(3 * answerS + 3);
  });

  it("a read that stalls mid-body is retried and gets the right bytes", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: proxyUrl, ...options });
    stallsLeft = 2;
    stalled = 0;
    const read = await source.read("model.safetensors", 10, 40_000, undefined, new Uint8Array(40_000));
    expect(stalled).toBe(2);
    expect(Buffer.from(read).equals(body.subarray(10, 40_010))).toBe(true);
  });

  it("a read that stalls on every attempt fails with the file, the host and the timeout", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: proxyUrl, ...options });
    stallsLeft = 3;
    const { error } = await timed(() => source.read("model.safetensors", 10, 40_000));
    expect((error as Error).message).toBe(
      `${source.label}: model.safetensors: timed out reading from ${hostOf(proxyUrl)}: no bytes for 0.8 s after ${STALL_AFTER_BYTES} of 40000 bytes (3 attempts)`,
    );
    expect(stallsLeft).toBe(0);
  });

  it("Cancel ends a read that waits on a stalled body at once", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: proxyUrl, ...options, idleTimeoutMs: 60_000 });
    stallsLeft = 1;
    const controller = new AbortController();
    const reason = new Error("cancelled");
    setTimeout(() => controller.abort(reason), 200);
    const { seconds, error } = await timed(() => source.read("model.safetensors", 0, 40_000, controller.signal));
    expect(error).toBe(reason);
    expect(seconds).toBeLessThan(1.2);
    stallsLeft = 0;
  });

  it("refuses timeouts that are not a positive number of milliseconds", async () => {
    for (const [option, value] of [["connectTimeoutMs", 0], ["idleTimeoutMs", -1], ["idleTimeoutMs", Number.NaN], ["idleTimeoutMs", 2 ** 31]] as const) {
      await expect(openHubSource("alice/tiny-model", { hubUrl: hub.url, [option]: value })).rejects.toThrow(
        `${option} must be a positive number of milliseconds, at most 2147483647, got ${value}`,
      );
    }
  });
});
