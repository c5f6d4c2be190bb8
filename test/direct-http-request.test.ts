import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WasmChunkArena } from "../src/core/engine/WasmChunkArena.ts";
import { createDirectHttpRequest, UnsupportedFramingError } from "../src/core/node/directHttpRequest.ts";
import { nodeHttpRequest } from "../src/core/node/nodeHttpRequest.ts";
import { HttpTimeoutError } from "../src/core/sources/httpTimeouts.ts";
import { listenTracked, STALL_AFTER_BYTES, startTimeoutServers, type TimeoutServers } from "./helpers/timeoutServers.ts";

const content = randomBytes(9 * 2 ** 20);
const tlsKey = readFileSync(new URL("fixtures/tls/key.pem", import.meta.url));
const tlsCert = readFileSync(new URL("fixtures/tls/cert.pem", import.meta.url));

/** What the test server saw. */
const seen = { connections: 0, authorization: [] as (string | undefined)[] };

/** Serves `content` by range at /bytes, and the odd answers the client must handle at the other paths. */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, "http://x");
  seen.authorization.push(req.headers.authorization);
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  const [start, end] = range ? [Number(range[1]), Number(range[2])] : [0, content.length - 1];
  const slice = content.subarray(start, end + 1);
  switch (url.pathname) {
    case "/bytes":
      res.writeHead(range ? 206 : 200, { "Content-Length": slice.length, ...(range ? { "Content-Range": `bytes ${start}-${end}/${content.length}` } : {}) });
      res.end(slice);
      return;
    case "/hints":
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      res.writeHead(200, { "Content-Length": slice.length });
      res.end(slice);
      return;
    case "/chunked":
      res.writeHead(200, { "Transfer-Encoding": "chunked" });
      res.write(slice.subarray(0, 1000));
      res.end(slice.subarray(1000));
      return;
    case "/cut":
      res.writeHead(200, { "Content-Length": slice.length });
      res.write(slice.subarray(0, 5000), () => res.destroy());
      return;
    case "/redirect":
      res.writeHead(302, { Location: `${url.searchParams.get("to")}/bytes`, "Content-Length": 0 });
      res.end();
      return;
    default:
      res.writeHead(404, { "Content-Length": 9 });
      res.end("not found");
  }
}

function counted(server: Server): Server {
  server.on("connection", () => seen.connections++);
  return server;
}

let plain: { url: string; close(): Promise<void> };
let other: { url: string; close(): Promise<void> };
let secure: { url: string; close(): Promise<void> };
let slow: TimeoutServers;

beforeAll(async () => {
  plain = await listenTracked(counted(createHttpServer(handle)));
  other = await listenTracked(createHttpServer(handle));
  const tlsServer = createHttpsServer({ key: tlsKey, cert: tlsCert }, handle);
  secure = await listenTracked(tlsServer);
  secure.url = secure.url.replace("http:", "https:");
  slow = await startTimeoutServers();
});

afterAll(async () => {
  await Promise.all([plain.close(), other.close(), secure.close(), slow.close()]);
});

const request = createDirectHttpRequest({ tls: { ca: tlsCert } });
const range = (start: number, length: number) => ({ Range: `bytes=${start}-${start + length - 1}` });

describe("directHttpRequest", () => {
  it("reads ranged bodies straight into the caller's buffer, over one kept-alive connection", async () => {
    const into = new Uint8Array(8 * 2 ** 20);
    const before = seen.connections;
    for (const start of [0, 12345, 2 ** 20 - 1]) {
      const response = await request(`${plain.url}/bytes`, { headers: range(start, into.length), into });
      expect(response.status).toBe(206);
      expect(response.headers.get("content-range")).toBe(`bytes ${start}-${start + into.length - 1}/${content.length}`);
      expect(response.body.buffer).toBe(into.buffer);
      expect(Buffer.from(response.body).equals(content.subarray(start, start + into.length))).toBe(true);
    }
    expect(seen.connections - before).toBe(1);
  });

  it("reads into a chunk of a shared WebAssembly memory (the CLI's chunk arena)", async () => {
    const arena = WasmChunkArena.create(2 ** 20)!;
    const into = arena.take(2 ** 20);
    const response = await request(`${plain.url}/bytes`, { headers: range(777, into.length), into });
    expect(response.body.buffer).toBe(into.buffer);
    expect(response.body.byteOffset).toBe(into.byteOffset);
    expect(Buffer.from(response.body).equals(content.subarray(777, 777 + into.length))).toBe(true);
  });

  it("reads a body longer than the caller's buffer into a new one", async () => {
    const into = new Uint8Array(100);
    const response = await request(`${plain.url}/bytes`, { headers: range(5, 3000), into });
    expect(response.body.buffer).not.toBe(into.buffer);
    expect(Buffer.from(response.body).equals(content.subarray(5, 3005))).toBe(true);
  });

  it("works over TLS", async () => {
    const into = new Uint8Array(3 * 2 ** 20);
    for (let i = 0; i < 2; i++) {
      const response = await request(`${secure.url}/bytes`, { headers: range(i * 1000, into.length), into });
      expect(Buffer.from(response.body).equals(content.subarray(i * 1000, i * 1000 + into.length))).toBe(true);
    }
  });

  it("returns a body cut short as the bytes that came, and the next request gets a new connection", async () => {
    const into = new Uint8Array(64_000);
    const response = await request(`${plain.url}/cut`, { headers: range(0, 64_000), into });
    expect(response.body.byteLength).toBe(5000);
    expect(Buffer.from(response.body).equals(content.subarray(0, 5000))).toBe(true);
    const next = await request(`${plain.url}/bytes`, { headers: range(0, 10), into });
    expect(Buffer.from(next.body).equals(content.subarray(0, 10))).toBe(true);
  });

  it("asks again on a new connection when the server has closed the kept one, before or as the request goes out", async () => {
    // Answers the first request of each connection. At /idle it then closes the connection 50 ms
    // later, as servers end idle ones; at /drop it closes it when the next request comes, unanswered.
    let connections = 0;
    const server = createTcpServer((socket) => {
      const number = ++connections;
      let requests = 0;
      socket.on("data", (data) => {
        if (++requests > 1) return socket.destroy();
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n${number}ab`);
        if (String(data).startsWith("GET /idle ")) setTimeout(() => socket.end(), 50);
      });
    });
    const closing = await listenTracked(server);
    try {
      for (const path of ["idle", "drop"]) {
        connections = 0;
        const client = createDirectHttpRequest({ keepIdleMs: 10_000 });
        const into = new Uint8Array(10);
        expect(Buffer.from((await client(`${closing.url}/${path}`, { into })).body).toString()).toBe("1ab");
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(Buffer.from((await client(`${closing.url}/${path}`, { into })).body).toString(), path).toBe("2ab");
        expect(connections).toBe(2);
      }
    } finally {
      await closing.close();
    }
  });

  it("passes over an interim 103 Early Hints answer", async () => {
    const into = new Uint8Array(4096);
    const response = await request(`${plain.url}/hints`, { headers: range(100, 4096), into });
    expect(response.status).toBe(200);
    expect(Buffer.from(response.body).equals(content.subarray(100, 4196))).toBe(true);
  });

  it("refuses a chunked answer before reading its body; nodeHttpRequest then reads it through undici", async () => {
    const into = new Uint8Array(5000);
    await expect(request(`${plain.url}/chunked`, { headers: range(0, 5000), into })).rejects.toBeInstanceOf(UnsupportedFramingError);
    const response = await nodeHttpRequest(`${plain.url}/chunked`, { headers: range(0, 5000), into });
    expect(Buffer.from(response.body).equals(content.subarray(0, 5000))).toBe(true);
  });

  it("follows a redirect to another origin without the token, and answers it as is when asked to", async () => {
    const into = new Uint8Array(100);
    const headers = { ...range(0, 100), Authorization: "Bearer hf_secret" };
    seen.authorization.length = 0;
    const followed = await request(`${plain.url}/redirect?to=${other.url}`, { headers, into });
    expect(followed.url).toBe(`${other.url}/bytes`);
    expect(Buffer.from(followed.body).equals(content.subarray(0, 100))).toBe(true);
    expect(seen.authorization).toEqual(["Bearer hf_secret", undefined]);
    const manual = await request(`${plain.url}/redirect?to=${other.url}`, { headers, into, redirect: "manual" });
    expect(manual.status).toBe(302);
    expect(manual.headers.get("location")).toBe(`${other.url}/bytes`);
  });

  it("refuses a header value that would end the header line", async () => {
    await expect(request(`${plain.url}/bytes`, { headers: { Range: "bytes=0-1\r\nX-Evil: 1" } })).rejects.toThrow('invalid HTTP header "Range"');
  });

  it("ends at once when aborted mid-body, with the abort's reason", async () => {
    const controller = new AbortController();
    const reason = new Error("cancelled");
    setTimeout(() => controller.abort(reason), 200);
    const started = performance.now();
    await expect(request(`${slow.stalling}/x`, { into: new Uint8Array(slow.body.length), signal: controller.signal })).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("times out connecting, waiting for the answer, and between pieces of the body, naming the host", async () => {
    const timeouts = { connectMs: 300, idleMs: 500 };
    const into = new Uint8Array(slow.body.length);
    const hostOf = (url: string) => new URL(url).host;
    await expect(request(`${slow.unaccepting}/x`, { timeouts, into })).rejects.toThrow(new HttpTimeoutError(`timed out connecting to ${hostOf(slow.unaccepting)} (no connection within 0.3 s)`));
    await expect(request(`${slow.silent}/x`, { timeouts, into })).rejects.toThrow(`timed out waiting for ${hostOf(slow.silent)} to answer (nothing within 0.5 s)`);
    await expect(request(`${slow.stalling}/x`, { timeouts, into })).rejects.toThrow(
      `timed out reading from ${hostOf(slow.stalling)}: no bytes for 0.5 s after ${STALL_AFTER_BYTES} of ${slow.body.length} bytes`,
    );
    const steady = await request(`${slow.steady}/x`, { timeouts, into });
    expect(Buffer.from(steady.body).equals(slow.body)).toBe(true);
  });
});
