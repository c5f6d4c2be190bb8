import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";

/** How the steady server sends its body: this many pieces, one every this many milliseconds. */
export const STEADY_PIECES = 20;
export const STEADY_GAP_MS = 100;
/** The first bytes of the body the stalling server sends before it falls silent. */
export const STALL_AFTER_BYTES = 1000;

/** Servers on 127.0.0.1 that misbehave in time, for timeout tests (CORS open, so that a page can call them too). */
export interface TimeoutServers {
  /** The body the stalling and steady servers send (their Content-Length). */
  body: Buffer;
  /** Accepts connections and never answers. */
  silent: string;
  /** Sends the headers and the first STALL_AFTER_BYTES bytes of `body`, then nothing more. */
  stalling: string;
  /** The same, its body chunked (no Content-Length). */
  stallingChunked: string;
  /** Sends `body` in STEADY_PIECES pieces, one every STEADY_GAP_MS: slow in all, never silent long. */
  steady: string;
  /**
   * Listens but never accepts, its queue of waiting connections full: the kernel drops any further
   * SYN, so a new connection neither succeeds nor fails, and only a connect timeout ends it.
   */
  unaccepting: string;
  close(): Promise<void>;
}

/** A server listening on 127.0.0.1 whose close also destroys every socket it accepted (a stalled one never ends by itself). */
export async function listenTracked(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A process that listens with a backlog of 1 and then blocks (Atomics.wait, no CPU) so that it never
 * accepts; connections are opened until one hangs, which shows the queue is full.
 */
async function startUnaccepting(): Promise<{ url: string; close(): void }> {
  const script =
    'const s = require("net").createServer(); s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {' +
    ' process.stdout.write(s.address().port + "\\n"); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });';
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => child.stdout.once("data", (data) => resolve(Number(String(data)))));
  const fillers: Socket[] = [];
  for (let connected = true; connected; ) {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    fillers.push(socket);
    connected = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true));
      setTimeout(() => resolve(false), 500);
    });
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of fillers) socket.destroy();
      child.kill();
    },
  };
}

export async function startTimeoutServers(bodyBytes = 64_000): Promise<TimeoutServers> {
  const body = randomBytes(bodyBytes);
  const headers = { "Content-Length": body.length, "Access-Control-Allow-Origin": "*" };
  const silent = await listenTracked(createTcpServer(() => {}));
  const stallingServer = (announced: boolean) =>
    listenTracked(
      createHttpServer((_req, res) => {
        res.writeHead(200, announced ? headers : { "Access-Control-Allow-Origin": "*" });
        res.write(body.subarray(0, STALL_AFTER_BYTES));
      }),
    );
  const stalling = await stallingServer(true);
  const stallingChunked = await stallingServer(false);
  const steady = await listenTracked(
    createHttpServer((_req, res) => {
      res.writeHead(200, headers);
      const size = Math.ceil(body.length / STEADY_PIECES);
      let sent = 0;
      const timer = setInterval(() => {
        res.write(body.subarray(sent * size, (sent + 1) * size));
        if (++sent === STEADY_PIECES) {
          clearInterval(timer);
          res.end();
        }
      }, STEADY_GAP_MS);
      res.on("close", () => clearInterval(timer));
    }),
  );
  const unaccepting = await startUnaccepting();
  return {
    body,
    silent: silent.url,
    stalling: stalling.url,
    stallingChunked: stallingChunked.url,
    steady: steady.url,
    unaccepting: unaccepting.url,
    async close() {
      unaccepting.close();
      await Promise.all([silent, stalling, stallingChunked, steady].map((server) => server.close()));
    },
  };
}
