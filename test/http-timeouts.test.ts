import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { fetchRequest } from "../src/core/sources/fetchRequest.ts";
import { HttpTimeoutError } from "../src/core/sources/httpTimeouts.ts";
import { openHubSource, type HttpRequest } from "../src/core/sources/openHubSource.ts";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";

/** Small timeouts, so that every case ends within a few seconds; the steady server's gaps are 8x shorter than `idleMs`. */
const timeouts = { connectMs: 400, idleMs: 800 };
const STEADY_PIECES = 20;
const STEADY_GAP_MS = 100;
const BODY = randomBytes(64_000);

/** Every socket a test server accepted, destroyed when the server closes (a stalled one never ends by itself). */
function tracked<T extends Server>(server: T): T {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  return server;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Accepts connections and never answers. */
const silent = tracked(createTcpServer(() => {}));
/** Sends the headers and the first 1000 bytes of BODY, then nothing more. */
const stalling = tracked(
  createHttpServer((_req, res) => {
    res.writeHead(200, { "Content-Length": BODY.length });
    res.write(BODY.subarray(0, 1000));
  }),
);
/** Sends BODY in STEADY_PIECES pieces, one every STEADY_GAP_MS: slower in all than the idle timeout, never idle as long. */
const steady = tracked(
  createHttpServer((_req, res) => {
    res.writeHead(200, { "Content-Length": BODY.length });
    const size = BODY.length / STEADY_PIECES;
    let sent = 0;
    const timer = setInterval(() => {
      res.write(BODY.subarray(sent * size, (sent + 1) * size));
      if (++sent === STEADY_PIECES) {
        clearInterval(timer);
        res.end();
      }
    }, STEADY_GAP_MS);
    res.on("close", () => clearInterval(timer));
  }),
);

/**
 * A listening socket whose queue of connections waiting to be accepted is full: a process that
 * listens with a backlog of 1 and then blocks (Atomics.wait) so that it never accepts. The kernel
 * drops any further SYN, so a new connection neither succeeds nor fails: only a connect timeout ends it.
 */
let unaccepting: ChildProcess;
let unacceptingUrl: string;
const fillers: Socket[] = [];

async function startUnacceptingListener(): Promise<void> {
  const script =
    'const s = require("net").createServer(); s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {' +
    ' process.stdout.write(s.address().port + "\\n"); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });';
  unaccepting = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => unaccepting.stdout!.once("data", (data) => resolve(Number(String(data)))));
  unacceptingUrl = `http://127.0.0.1:${port}`;
  // Fill the queue: connect until one connection hangs.
  for (;;) {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true));
      setTimeout(() => resolve(false), 500);
    });
    if (!connected) return;
  }
}

const urls: Record<"silent" | "stalling" | "steady", string> = { silent: "", stalling: "", steady: "" };

beforeAll(async () => {
  urls.silent = await listen(silent);
  urls.stalling = await listen(stalling);
  urls.steady = await listen(steady);
  await startUnacceptingListener();
});

afterAll(async () => {
  for (const socket of fillers) socket.destroy();
  unaccepting?.kill();
  await Promise.all([silent, stalling, steady].map(closeServer));
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
    const { seconds, error } = await timed(() => request(`${urls.silent}/model.safetensors`, { timeouts }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as Error).message).toBe(`timed out waiting for ${hostOf(urls.silent)} to answer (nothing within ${answerMs / 1000} s)`);
    expect(seconds).toBeGreaterThanOrEqual(answerMs / 1000 - 0.05);
    expect(seconds).toBeLessThan(answerMs / 1000 + 2);
  });

  it("a body that stalls after its headers times out, saying how far it came", async () => {
    for (const into of [undefined, new Uint8Array(BODY.length)]) {
      const { seconds, error } = await timed(() => request(`${urls.stalling}/x`, { timeouts, ...(into ? { into } : {}) }));
      expect(error, into ? "read into a buffer" : "read whole").toBeInstanceOf(HttpTimeoutError);
      expect((error as Error).message).toBe(`timed out reading from ${hostOf(urls.stalling)}: no bytes for 0.8 s after 1000 of ${BODY.length} bytes`);
      expect(seconds).toBeGreaterThanOrEqual(0.75);
      expect(seconds).toBeLessThan(3);
    }
  });

  it("a server that answers slowly but steadily does not time out", async () => {
    for (const into of [undefined, new Uint8Array(BODY.length)]) {
      const { seconds, value, error } = await timed(() => request(`${urls.steady}/x`, { timeouts, ...(into ? { into } : {}) }));
      expect(error).toBeUndefined();
      expect(Buffer.from(value!.body).equals(BODY)).toBe(true);
      // Longer in all than the idle timeout: the timeout bounds silence, not duration.
      expect(seconds).toBeGreaterThan((STEADY_PIECES - 1) * STEADY_GAP_MS * 0.001);
      expect(seconds).toBeGreaterThan(timeouts.idleMs / 1000);
    }
  });

  it("a connection the server never completes times out", async () => {
    const { seconds, error } = await timed(() => request(`${unacceptingUrl}/x`, { timeouts }));
    expect(error).toBeInstanceOf(HttpTimeoutError);
    const expected =
      request === fetchRequest
        ? `timed out waiting for ${hostOf(unacceptingUrl)} to answer (nothing within ${answerMs / 1000} s)`
        : `timed out connecting to ${hostOf(unacceptingUrl)} (no connection within ${timeouts.connectMs / 1000} s)`;
    expect((error as Error).message).toBe(expected);
    expect(seconds).toBeLessThan(answerMs / 1000 + 2);
  });

  it("an abort ends a request at once, whatever the timeouts", async () => {
    for (const url of [urls.silent, urls.stalling, unacceptingUrl]) {
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
  let proxy: Server;
  let proxyUrl: string;
  /** How many more ranged reads of the weights the proxy stalls (after their headers and 1000 bytes). */
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
        if (head.length < 1000) return;
        res.write(head.subarray(0, 1000));
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
    await put("alice/tiny-model/model.safetensors", BODY);
    await put("alice/tiny-model/config.json", JSON.stringify({ model_type: "qwen2" }));
    hub = await startHubServer({ root });
    proxy = tracked(createHttpServer(forward));
    proxyUrl = await listen(proxy);
  });

  afterAll(async () => {
    await closeServer(proxy);
    await hub.close();
    await rm(root, { recursive: true, force: true });
  });

  const options = { request, retries: 2, retryBaseMs: 1, connectTimeoutMs: timeouts.connectMs, idleTimeoutMs: timeouts.idleMs };

  it("a Hub that accepts connections and never answers fails within seconds, saying it timed out and where", async () => {
    const { seconds, error } = await timed(() => openHubSource("alice/tiny-model", { hubUrl: urls.silent, ...options }));
    const answerS = (request === fetchRequest ? timeouts.connectMs + timeouts.idleMs : timeouts.idleMs) / 1000;
    expect((error as Error).message).toBe(`alice/tiny-model: timed out waiting for ${hostOf(urls.silent)} to answer (nothing within ${answerS} s) (3 attempts)`);
    expect(seconds).toBeGreaterThanOrEqual(3 * answerS - 0.1);
    expect(seconds).toBeLessThan(3 * answerS + 3);
  });

  it("a read that stalls mid-body is retried and gets the right bytes", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: proxyUrl, ...options });
    stallsLeft = 2;
    stalled = 0;
    const read = await source.read("model.safetensors", 10, 40_000, undefined, new Uint8Array(40_000));
    expect(stalled).toBe(2);
    expect(Buffer.from(read).equals(BODY.subarray(10, 40_010))).toBe(true);
  });

  it("a read that stalls on every attempt fails with the file, the host and the timeout", async () => {
    const source = await openHubSource("alice/tiny-model", { hubUrl: proxyUrl, ...options });
    stallsLeft = 3;
    const { error } = await timed(() => source.read("model.safetensors", 10, 40_000));
    expect((error as Error).message).toBe(
      `${source.label}: model.safetensors: timed out reading from ${hostOf(proxyUrl)}: no bytes for 0.8 s after 1000 of 40000 bytes (3 attempts)`,
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
