import { timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { listModels, modelInfo, pathsInfo, tree } from "./apiRoutes.ts";
import { FaultCounter, type HubFaults } from "./faults.ts";
import { RepoStore, type RepoSnapshot } from "./repoStore.ts";
import { HttpError, sendError } from "./respond.ts";
import { serveFile } from "./serveFile.ts";

export type { HubFaults } from "./faults.ts";

export interface HubServerOptions {
  /** Folder of repos: ROOT/OWNER/NAME/... */
  root: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  faults?: HubFaults;
  /** When set, every request but a CORS preflight needs `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RunningHubServer {
  /** e.g. http://127.0.0.1:12345, no trailing slash. */
  url: string;
  close(): Promise<void>;
  /** Requests received so far, preflights and failed ones included. */
  requestCount(): number;
}

const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
  "Access-Control-Allow-Headers": "Range, Authorization, Content-Type, Accept, If-None-Match, If-Range",
  "Access-Control-Expose-Headers":
    "Content-Range, Content-Length, ETag, X-Repo-Commit, X-Error-Code, Accept-Ranges, Link, X-Linked-Size, X-Linked-Etag",
  "Access-Control-Max-Age": "86400",
};

/**
 * A read-only, Hub-compatible server over a folder of model repos, speaking the routes that
 * `@huggingface/hub` calls (model info, listings, tree, paths-info, resolve with Range).
 */
export async function startHubServer(options: HubServerOptions): Promise<RunningHubServer> {
  const root = resolve(options.root);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`hub server: ${root} is not a folder`);
  const store = new RepoStore(root);
  const faults = new FaultCounter(options.faults);
  const expectedAuth = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
  let requests = 0;

  const server = createServer((req, res) => {
    requests++;
    for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, error instanceof HttpError ? error : new HttpError(500, (error as Error).message ?? String(error)));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    if (req.method === "OPTIONS") {
      res.writeHead(204);
      res.end();
      return;
    }
    if (expectedAuth && !isAuthorized(req.headers.authorization, expectedAuth)) {
      res.setHeader("WWW-Authenticate", "Bearer");
      throw new HttpError(401, "Invalid or missing access token");
    }
    await route(req, res);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const queryAt = url.indexOf("?");
    const query = new URLSearchParams(queryAt < 0 ? "" : url.slice(queryAt + 1));
    const segments = splitPath(queryAt < 0 ? url : url.slice(0, queryAt));
    const method = req.method ?? "GET";

    if (segments[0] === "api") {
      if (segments[1] !== "models") throw new HttpError(404, `no route ${url.split("?")[0]}`);
      if (segments.length === 2) {
        allow(method, ["GET", "HEAD"]);
        return listModels(store, req, res, query);
      }
      const [, , owner = "", name = "", action, rev, ...rest] = segments;
      if (action === undefined) {
        allow(method, ["GET", "HEAD"]);
        return modelInfo(store, res, await revision(owner, name, "main"));
      }
      if (rev === undefined) throw new HttpError(404, `no route ${url.split("?")[0]}`);
      if (action === "revision" && rest.length === 0) {
        allow(method, ["GET", "HEAD"]);
        return modelInfo(store, res, await revision(owner, name, rev));
      }
      if (action === "tree") {
        allow(method, ["GET", "HEAD"]);
        return tree(req, res, await revision(owner, name, rev), filePath(rest, true), query);
      }
      if (action === "paths-info" && rest.length === 0) {
        allow(method, ["POST"]);
        return pathsInfo(req, res, await revision(owner, name, rev));
      }
      throw new HttpError(404, `no route ${url.split("?")[0]}`);
    }

    const [owner = "", name = "", action, rev, ...rest] = segments;
    if ((action === "resolve" || action === "raw") && rev !== undefined && rest.length > 0) {
      allow(method, ["GET", "HEAD"]);
      const path = filePath(rest, false);
      const fault = faults.nextFileRequest();
      if (fault === "drop") {
        req.socket.destroy();
        return;
      }
      if (fault === "503") throw new HttpError(503, "Service temporarily unavailable (injected fault)");
      const found = await lookup(owner, name, rev);
      return serveFile(root, req, res, found.snapshot, found.current, path, () => faults.nextBody());
    }
    throw new HttpError(404, `no route ${url.split("?")[0]}`);
  }

  async function lookup(owner: string, name: string, rev: string) {
    const found = await store.lookup(owner, name, rev);
    if (found.kind === "no-repo") throw new HttpError(404, `Repository ${owner}/${name} not found`, "RepoNotFound");
    if (found.kind === "no-revision") {
      throw new HttpError(404, `Revision ${rev} not found in ${owner}/${name}`, "RevisionNotFound");
    }
    return found;
  }

  async function revision(owner: string, name: string, rev: string): Promise<RepoSnapshot> {
    return (await lookup(owner, name, rev)).snapshot;
  }

  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", fail);
      done();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    requestCount: () => requests,
    close: () =>
      new Promise<void>((done, fail) => {
        server.close((error) => (error ? fail(error) : done()));
        server.closeAllConnections();
      }),
  };
}

function isAuthorized(header: string | undefined, expected: Buffer): boolean {
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, `${method} is not allowed here; use ${methods.join(" or ")}`);
}

/** Splits the raw request path and decodes each segment by itself, so an encoded "/" can never form a new segment. */
function splitPath(path: string): string[] {
  const raw = path.split("/").slice(1);
  if (raw.at(-1) === "") raw.pop();
  return raw.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new HttpError(400, `malformed path segment "${segment}"`);
    }
  });
}

/** A repo-relative path: no "..", ".", empty or separator-bearing segments, nothing hidden. */
function filePath(segments: string[], allowEmpty: boolean): string {
  if (segments.length === 0 && allowEmpty) return "";
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === ".." || /[/\\\0]/.test(segment)) {
      throw new HttpError(400, `invalid path "${segments.join("/")}": ".", ".." and empty segments are refused`);
    }
    if (segment.startsWith(".")) throw new HttpError(404, `no file "${segments.join("/")}"`, "EntryNotFound");
  }
  return segments.join("/");
}
