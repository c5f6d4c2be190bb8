import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import { DEFAULT_HTTP_TIMEOUTS, HttpTimeoutError, type HttpTimeouts } from "../sources/httpTimeouts.ts";
import type { HttpRequestInit, HttpResponse } from "../sources/HttpRequest.ts";

/**
 * A GET over HTTP/1.1 whose body the socket reads straight into the caller's buffer (`into`), with
 * keep-alive connections per origin. Why not undici: every socket read there lands in a fresh
 * 64 KiB Buffer that is copied into `into` and then collected. Reading a 0.5B trio's 2.96 GB in
 * 8 MiB ranges from the local Hub server took 3.9 s of CPU through undici (a third of it garbage
 * collection) and 0.9 s this way (`onread` with a buffer function: Node asks where each read goes).
 *
 * Only responses framed by Content-Length (or bodiless: 204, 304) are read; any other framing
 * (chunked, or until the connection closes) rejects with UnsupportedFramingError before a byte of
 * the body is taken, and the caller asks again another way. A body cut short resolves with the bytes
 * that came: the caller's length check decides. Redirects are followed (at most 5; Authorization is
 * dropped when one leaves the origin) unless `redirect: "manual"`.
 */
export type DirectHttpRequest = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

/** The answer is not framed by Content-Length; nothing of its body was read and its connection is closed. */
export class UnsupportedFramingError extends Error {
  override name = "UnsupportedFramingError";
}

export interface DirectHttpOptions {
  /** Added to every TLS connection's options (a test's own certificate authority, say). */
  tls?: ConnectionOptions;
  /** How long an idle connection is kept for the next request (default 4 s: below the 5 s after which Node's own servers drop one). */
  keepIdleMs?: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
const MAX_IDLE_PER_ORIGIN = 16;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function createDirectHttpRequest(options: DirectHttpOptions = {}): DirectHttpRequest {
  const pool = new ConnectionPool(options);
  return async (url, init) => {
    if ((init.method ?? "GET") !== "GET" || init.body !== undefined) throw new TypeError("directHttpRequest sends GET requests without a body only");
    const timeouts = init.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
    let headers = { ...init.headers };
    let current = new URL(url);
    for (let hop = 0; ; hop++) {
      const response = await pool.send(current, headers, init.into, timeouts, init.signal);
      const location = response.headers.get("location");
      if (init.redirect === "manual" || !REDIRECT_STATUSES.has(response.status) || location === null || hop === MAX_REDIRECTS) return response;
      const next = new URL(location, current);
      if (next.origin !== current.origin) headers = withoutAuthorization(headers);
      current = next;
    }
  };
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"));
}

/** Idle keep-alive connections by origin; a request takes one or opens a new one. */
class ConnectionPool {
  private readonly idle = new Map<string, Connection[]>();

  constructor(private readonly options: DirectHttpOptions) {}

  async send(url: URL, headers: Record<string, string>, into: Uint8Array | undefined, timeouts: HttpTimeouts, signal: AbortSignal | undefined): Promise<HttpResponse> {
    signal?.throwIfAborted();
    const request = renderRequest(url, headers);
    for (;;) {
      const reused = this.takeIdle(url.origin);
      const connection = reused ?? (await Connection.open(url, this.options.tls, timeouts.connectMs, signal));
      try {
        const { response, keepAlive } = await connection.exchange(request, url, into, timeouts, signal);
        if (keepAlive) this.putIdle(url.origin, connection);
        else connection.close();
        return response;
      } catch (error) {
        connection.close();
        // A kept connection the server closed meanwhile fails before any answer: ask on a new one.
        if (reused && error instanceof ClosedBeforeAnswerError) continue;
        if (error instanceof ClosedBeforeAnswerError) throw new TypeError("fetch failed", { cause: error.cause });
        throw error;
      }
    }
  }

  private takeIdle(origin: string): Connection | undefined {
    const list = this.idle.get(origin);
    let connection = list?.pop();
    while (connection && !connection.usable()) connection = list?.pop();
    connection?.busy();
    return connection;
  }

  private putIdle(origin: string, connection: Connection): void {
    let list = this.idle.get(origin);
    if (!list) this.idle.set(origin, (list = []));
    if (list.length >= MAX_IDLE_PER_ORIGIN) return connection.close();
    list.push(connection);
    connection.rest(this.options.keepIdleMs ?? 4000, () => {
      const index = list.indexOf(connection);
      if (index >= 0) list.splice(index, 1);
    });
  }
}

/** The connection ended (closed, reset) before any byte of the answer came. */
class ClosedBeforeAnswerError extends Error {}

/** What one exchange does with the bytes the socket reads. */
interface Reader {
  onBytes(count: number): void;
  onEnd(error: Error | undefined): void;
}

/** One socket, reading into whatever buffer its current exchange points it at. */
class Connection {
  private target: Uint8Array;
  private reader: Reader | undefined;
  private ended: Error | undefined;
  private restTimer: ReturnType<typeof setTimeout> | undefined;
  private constructor(
    readonly socket: Socket,
    /** Where each answer's head is read to, and the reads between answers. */
    readonly head: Uint8Array,
  ) {
    this.target = head;
    const end = (error: Error | undefined) => {
      this.ended ??= error ?? new Error("the connection was closed");
      const reader = this.reader;
      this.reader = undefined;
      reader?.onEnd(this.ended);
    };
    socket.on("error", end);
    socket.on("close", () => end(undefined));
    socket.on("end", () => end(undefined));
  }

  static open(url: URL, tls: ConnectionOptions | undefined, connectMs: number, signal: AbortSignal | undefined): Promise<Connection> {
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`unsupported protocol ${url.protocol}`);
    const secure = url.protocol === "https:";
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(url.port || (secure ? 443 : 80));
    // Node asks for the buffer once as the socket is made (before `connection` exists), then before every read.
    const head = new Uint8Array(MAX_HEAD_BYTES);
    const made: { connection?: Connection } = {};
    const onread = {
      buffer: (): Uint8Array => made.connection?.target ?? head,
      callback: (count: number) => {
        made.connection!.onBytes(count);
        return true;
      },
    };
    // @types/node leaves onread out of tls.connect's options, which take it since Node 15 (nodejs/node#35753).
    const tlsOptions: ConnectionOptions & { onread: typeof onread } = { host, port, servername: host, ALPNProtocols: ["http/1.1"], onread, ...tls };
    const socket: Socket = secure ? connectTls(tlsOptions) : connectTcp({ host, port, noDelay: true, onread });
    const connection = new Connection(socket, head);
    made.connection = connection;
    return new Promise((resolve, reject) => {
      const fail = (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(HttpTimeoutError.connecting(url.href, connectMs)), connectMs);
      const onAbort = () => fail(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      connection.reader = { onBytes: () => undefined, onEnd: (error) => fail(new TypeError("fetch failed", { cause: error })) };
      socket.once(secure ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        connection.reader = undefined;
        resolve(connection);
      });
    });
  }

  onBytes(count: number): void {
    if (this.reader) return this.reader.onBytes(count);
    // Bytes nobody asked for (an idle connection): the stream is out of step, so it is not used again.
    this.ended ??= new Error("the server sent bytes between answers");
    this.socket.destroy();
  }

  usable(): boolean {
    return this.ended === undefined && !this.socket.destroyed;
  }

  /** Taken for a request: no longer idle. */
  busy(): void {
    clearTimeout(this.restTimer);
    this.socket.ref();
  }

  /** Idle: does not keep the process alive, and closes after `ms` unless taken again. */
  rest(ms: number, onClosed: () => void): void {
    this.target = this.head;
    this.socket.unref();
    this.restTimer = setTimeout(() => {
      onClosed();
      this.close();
    }, ms);
    this.restTimer.unref();
  }

  close(): void {
    clearTimeout(this.restTimer);
    this.reader = undefined;
    this.socket.destroy();
  }

  /** Sends `request` and reads its answer: the head into `this.head`, the body into `into` when it fits. */
  exchange(
    request: string,
    url: URL,
    into: Uint8Array | undefined,
    timeouts: HttpTimeouts,
    signal: AbortSignal | undefined,
  ): Promise<{ response: HttpResponse; keepAlive: boolean }> {
    if (this.ended) return Promise.reject(new ClosedBeforeAnswerError("closed", { cause: this.ended }));
    return new Promise((resolve, reject) => {
      let headLength = 0;
      let answer: { status: number; statusText: string; headers: Headers; keepAlive: boolean } | undefined;
      let body: Uint8Array | undefined;
      let received = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.reader = undefined;
        this.target = this.head;
      };
      const fail = (error: unknown) => {
        settle();
        this.socket.destroy();
        reject(error);
      };
      const finish = (keepAlive: boolean) => {
        settle();
        resolve({ response: { ...answer!, url: url.href, body: body!.subarray(0, received) }, keepAlive });
      };
      const arm = (error: () => HttpTimeoutError) => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(error()), timeouts.idleMs);
      };
      const onAbort = () => fail(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      arm(() => HttpTimeoutError.waitingForAnswer(url.href, timeouts.idleMs));

      const startBody = (parsed: ReturnType<typeof parseHead>, headEnd: number) => {
        const length = bodyLength(parsed);
        if (length === undefined) throw new UnsupportedFramingError(`${url.host} answered without a Content-Length`);
        const early = headLength - (headEnd + 4);
        if (early > length) throw new TypeError("fetch failed", { cause: new Error(`${url.host} sent more bytes than its Content-Length`) });
        answer = parsed;
        body = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
        body.set(this.head.subarray(headEnd + 4, headLength));
        received = early;
      };
      const bodyDone = () => {
        if (received === body!.byteLength) return finish(answer!.keepAlive);
        this.target = body!.subarray(received);
        const expected = body!.byteLength;
        arm(() => HttpTimeoutError.readingBody(url.href, timeouts.idleMs, received, expected));
      };
      /** Reads the heads that have come in full: interim ones (103 Early Hints) are passed over. */
      const readHead = (searchFrom: number) => {
        for (;;) {
          const headEnd = indexOfBlankLine(this.head, searchFrom, headLength);
          if (headEnd < 0) {
            if (headLength === this.head.byteLength) throw new TypeError("fetch failed", { cause: new Error(`${url.host} sent a response head over ${MAX_HEAD_BYTES} bytes`) });
            this.target = this.head.subarray(headLength);
            return;
          }
          const parsed = parseHead(this.head.subarray(0, headEnd));
          if (parsed.status >= 200) {
            startBody(parsed, headEnd);
            return bodyDone();
          }
          this.head.copyWithin(0, headEnd + 4, headLength);
          headLength -= headEnd + 4;
          searchFrom = 0;
        }
      };

      this.reader = {
        onBytes: (count) => {
          try {
            if (body) {
              received += count;
              return bodyDone();
            }
            headLength += count;
            readHead(Math.max(0, headLength - count - 3));
          } catch (error) {
            fail(error);
          }
        },
        onEnd: (error) => {
          if (headLength === 0 && !body) return fail(new ClosedBeforeAnswerError("closed", { cause: error }));
          // A body cut short: what came is returned, and the caller's length check asks again.
          if (body && received > 0) return finish(false);
          fail(new TypeError("fetch failed", { cause: error }));
        },
      };
      this.target = this.head;
      this.socket.write(request);
    });
  }
}

/** The request's head: header names and values must not carry line breaks (no header can be smuggled in). */
function renderRequest(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\r\n\0]/.test(value)) throw new TypeError(`invalid HTTP header ${JSON.stringify(name)}`);
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Where the blank line ending the head starts (the index of its "\r\n\r\n"), or -1. */
function indexOfBlankLine(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(head: Uint8Array): { status: number; statusText: string; headers: Headers; keepAlive: boolean } {
  const lines = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString("latin1").split("\r\n");
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!statusLine) throw new TypeError("fetch failed", { cause: new Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`) });
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new TypeError("fetch failed", { cause: new Error(`malformed response header: ${JSON.stringify(line.slice(0, 80))}`) });
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const connection = headers.get("connection")?.toLowerCase() ?? "";
  const keepAlive = statusLine[1] === "1" ? !connection.includes("close") : connection.includes("keep-alive");
  return { status: Number(statusLine[2]), statusText: statusLine[3] ?? "", headers, keepAlive };
}

/** The body's length by its framing; undefined for framings this client does not read (chunked, until close). */
function bodyLength(answer: { status: number; headers: Headers }): number | undefined {
  if (answer.status === 204 || answer.status === 304) return 0;
  if (answer.headers.has("transfer-encoding")) return undefined;
  const text = answer.headers.get("content-length");
  if (text === null || !/^\d+$/.test(text)) return undefined;
  const length = Number(text);
  return Number.isSafeInteger(length) ? length : undefined;
}
