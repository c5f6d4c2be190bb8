import { timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_TREE_PAGE_SIZE, listModels, modelInfo, pathsInfo, tree } from "./apiRoutes.ts";
import { cdnPath, createCdnServer, type CdnCounts } from "./cdnServer.ts";
import { FaultCounter, type HubFaults } from "./faults.ts";
import { fileEtag, RepoStore, type RepoFileStat, type RepoSnapshot } from "./repoStore.ts";
import { HttpError, HttpRedirect, sendError } from "./respond.ts";
import { ResolverRateLimit, type RateLimitOptions } from "./resolverRateLimit.ts";
import { contentType, sendFileBytes } from "./serveFile.ts";
import { UrlSigner } from "./signedUrl.ts";

export type { HubFaults } from "./faults.ts";
export type { RateLimitOptions } from "./resolverRateLimit.ts";

/** LFS files of a repo (the weights) go to the CDN: safetensors files and anything this large (the Hub: 10 MB). */
const DEFAULT_LFS_MIN_BYTES = 10 * 1024 * 1024;

export interface CdnOptions {
  /** Lifetime of a signed URL, in seconds (the Hub: 3600). Default 3600. */
  urlTtlSeconds?: number;
  /** Files at least this large are LFS files too (every `*.safetensors` is one). Default 10 MiB. */
  lfsMinBytes?: number;
  /** Port of the CDN origin; 0 (the default) picks a free one. */
  port?: number;
}

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

  // "Real Hub" behaviours, each off unless given: what huggingface.co does, so that clients are tested against it.
  /** Valid tokens a request may send (not required); a request with any other token gets 401. */
  tokens?: string[];
  /** LFS files: `resolve` answers 302 to a signed, expiring URL on a second origin (the CDN). */
  cdn?: CdnOptions;
  /** Other files: `resolve` answers a relative 307 to `/api/resolve-cache/...`, which serves them. */
  resolveCache?: boolean;
  /** Every resolver answer carries `RateLimit` / `RateLimit-Policy`; past the quota, 429. */
  rateLimit?: RateLimitOptions;
  /** Entries per page of a tree listing (continued by a `Link` header). Default 1000, as the Hub. */
  treePageSize?: number;
  /**
   * A missing (or private) repo answers 401 without X-Error-Code to a request without a valid token, as the
   * Hub does; with a valid token, 404 RepoNotFound. Private repos (`"private": true` in `.hub.json`) are hidden
   * from requests without a valid token in any case.
   */
  hideRepos?: boolean;
  /** Repo ids match ignoring case, with a 307 to the canonical spelling. */
  caseInsensitiveIds?: boolean;
}

/** Requests received by kind, CORS preflights left out. */
export interface HubRequestCounts {
  /** `/resolve/` and `/raw/` requests: the ones the Hub's "resolvers" quota counts. */
  resolver: number;
  /** Requests to the CDN origin. */
  cdn: number;
  /** `/api/...` requests, `/api/resolve-cache/...` included. */
  api: number;
  /** CDN requests that carried an Authorization header: a client must never send one there. */
  cdnWithAuthorization: number;
  /** Resolver requests refused with 429. */
  rateLimited: number;
}

export interface RunningHubServer {
  /** e.g. http://127.0.0.1:12345, no trailing slash. */
  url: string;
  /** The CDN origin, when `cdn` is on. */
  cdnUrl?: string;
  close(): Promise<void>;
  /** Requests received so far (both origins), preflights and failed ones included. */
  requestCount(): number;
  requestCounts(): HubRequestCounts;
}

const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
  "Access-Control-Allow-Headers": "Range, Authorization, Content-Type, Accept, If-None-Match, If-Range",
  "Access-Control-Expose-Headers":
    "Content-Range, Content-Length, ETag, X-Repo-Commit, X-Error-Code, Accept-Ranges, Link, X-Linked-Size, X-Linked-Etag, RateLimit, RateLimit-Policy, Retry-After",
  "Access-Control-Max-Age": "86400",
};

/**
 * A read-only, Hub-compatible server over a folder of model repos, speaking the routes that
 * `@huggingface/hub` calls (model info, listings, tree, paths-info, resolve with Range), and on
 * request what huggingface.co does besides (CDN redirects, rate limits, its error codes).
 */
export async function startHubServer(options: HubServerOptions): Promise<RunningHubServer> {
  const root = resolve(options.root);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`hub server: ${root} is not a folder`);
  const treePageSize = options.treePageSize ?? DEFAULT_TREE_PAGE_SIZE;
  if (!Number.isInteger(treePageSize) || treePageSize < 1) throw new Error(`treePageSize must be a positive integer, got ${treePageSize}`);
  const lfsMinBytes = options.cdn?.lfsMinBytes ?? DEFAULT_LFS_MIN_BYTES;
  const store = new RepoStore(root);
  const faults = new FaultCounter(options.faults);
  const signer = options.cdn ? new UrlSigner(options.cdn.urlTtlSeconds ?? 3600) : undefined;
  const rateLimit = options.rateLimit ? new ResolverRateLimit(options.rateLimit) : undefined;
  const requiredAuth = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
  const validAuth = [...(options.token === undefined ? [] : [options.token]), ...(options.tokens ?? [])].map((token) => ({
    token,
    header: Buffer.from(`Bearer ${token}`),
  }));
  const counts: HubRequestCounts = { resolver: 0, cdn: 0, api: 0, cdnWithAuthorization: 0, rateLimited: 0 };
  const cdnCounts: CdnCounts = { requests: 0, withAuthorization: 0 };
  let requests = 0;

  const server = createServer((req, res) => {
    requests++;
    for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpRedirect) {
        res.writeHead(error.status, { Location: error.location, "Content-Length": 0 });
        res.end();
        return;
      }
      sendError(res, error instanceof HttpError ? error : new HttpError(500, (error as Error).message ?? String(error)));
    });
  });

  /** The valid token a request carries (undefined: anonymous); a token that is not valid is refused. */
  function client(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header === undefined || validAuth.length === 0) return undefined;
    const given = Buffer.from(header);
    const match = validAuth.find(({ header: valid }) => given.length === valid.length && timingSafeEqual(given, valid));
    if (!match) throw new HttpError(401, "Invalid credentials in Authorization header");
    return match.token;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    if (req.method === "OPTIONS") {
      res.writeHead(204);
      res.end();
      return;
    }
    if (requiredAuth && !isAuthorized(req.headers.authorization, requiredAuth)) {
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
      counts.api++;
      const caller = client(req);
      if (segments[1] === "resolve-cache" && segments[2] === "models") {
        allow(method, ["GET", "HEAD"]);
        const [, , , owner = "", name = "", rev = "", ...rest] = segments;
        const found = await lookup(req, owner, name, rev, caller);
        return serveGitFile(req, res, found.snapshot, found.current, filePath(rest, false));
      }
      if (segments[1] !== "models") throw new HttpError(404, `no route ${url.split("?")[0]}`);
      if (segments.length === 2) {
        allow(method, ["GET", "HEAD"]);
        return listModels(store, req, res, query, caller !== undefined);
      }
      const [, , owner = "", name = "", action, rev, ...rest] = segments;
      if (action === undefined) {
        allow(method, ["GET", "HEAD"]);
        return modelInfo(store, res, (await lookup(req, owner, name, "main", caller)).snapshot);
      }
      if (rev === undefined) throw new HttpError(404, `no route ${url.split("?")[0]}`);
      if (action === "revision" && rest.length === 0) {
        allow(method, ["GET", "HEAD"]);
        return modelInfo(store, res, (await lookup(req, owner, name, rev, caller)).snapshot);
      }
      if (action === "tree") {
        allow(method, ["GET", "HEAD"]);
        const { snapshot } = await lookup(req, owner, name, rev, caller);
        return tree(req, res, snapshot, filePath(rest, true), query, treePageSize);
      }
      if (action === "paths-info" && rest.length === 0) {
        allow(method, ["POST"]);
        return pathsInfo(req, res, (await lookup(req, owner, name, rev, caller)).snapshot);
      }
      throw new HttpError(404, `no route ${url.split("?")[0]}`);
    }

    const [owner = "", name = "", action, rev, ...rest] = segments;
    if ((action === "resolve" || action === "raw") && rev !== undefined && rest.length > 0) {
      counts.resolver++;
      const caller = client(req);
      if (rateLimit) {
        const decision = rateLimit.take(caller);
        for (const [header, value] of Object.entries(decision.headers)) res.setHeader(header, value);
        if (!decision.allowed) {
          counts.rateLimited++;
          throw new HttpError(429, "You have been rate-limited; you can retry this action in a few minutes.");
        }
      }
      allow(method, ["GET", "HEAD"]);
      const path = filePath(rest, false);
      const fault = faults.nextFileRequest();
      if (fault === "drop") {
        req.socket.destroy();
        return;
      }
      if (fault === "503") throw new HttpError(503, "Service temporarily unavailable (injected fault)");
      const found = await lookup(req, owner, name, rev, caller);
      const file = found.snapshot.files.has(path) ? found.current.files.get(path) : undefined;
      if (!file) throw new HttpError(404, `${found.snapshot.id}: no file "${path}" at revision ${found.snapshot.sha}`, "EntryNotFound");
      if (signer && action === "resolve" && (path.endsWith(".safetensors") || file.size >= lfsMinBytes)) {
        const sha256 = `"${await store.sha256(found.current.id, file)}"`;
        res.writeHead(302, {
          Location: signer.sign(cdnUrl, cdnPath(found.snapshot.id, found.snapshot.sha, path)),
          "X-Repo-Commit": found.snapshot.sha,
          "X-Linked-Size": file.size,
          "X-Linked-Etag": sha256,
          ETag: sha256,
          "Content-Length": 0,
        });
        res.end();
        return;
      }
      if (options.resolveCache) {
        const location = `/api/resolve-cache/models/${found.snapshot.id}/${found.snapshot.sha}/${rest.map(encodeURIComponent).join("/")}`;
        res.writeHead(307, {
          Location: location,
          "X-Repo-Commit": found.snapshot.sha,
          ETag: fileEtag(found.current.id, file),
          "Content-Length": 0,
        });
        res.end();
        return;
      }
      return serveGitFile(req, res, found.snapshot, found.current, path);
    }
    throw new HttpError(404, `no route ${url.split("?")[0]}`);
  }

  /**
   * A file served by this origin. `snapshot` is the revision asked for, `current` the folder now. A folder
   * keeps no history, so an older revision is served with today's bytes and today's ETag: a client that
   * pinned the older revision sees the ETag change and knows the file moved under it.
   */
  function serveGitFile(req: IncomingMessage, res: ServerResponse, snapshot: RepoSnapshot, current: RepoSnapshot, path: string): Promise<void> {
    const file: RepoFileStat | undefined = snapshot.files.has(path) ? current.files.get(path) : undefined;
    if (!file) throw new HttpError(404, `${snapshot.id}: no file "${path}" at revision ${snapshot.sha}`, "EntryNotFound");
    const etag = fileEtag(current.id, file);
    const headers = {
      "Content-Type": contentType(path),
      ETag: etag,
      "X-Linked-Etag": etag,
      "X-Linked-Size": file.size,
      "X-Repo-Commit": snapshot.sha,
      "Last-Modified": new Date(file.mtimeMs).toUTCString(),
    };
    return sendFileBytes(req, res, join(root, current.id, path), file.size, headers, () => faults.nextBody());
  }

  async function lookup(req: IncomingMessage, owner: string, name: string, rev: string, caller: string | undefined) {
    let found = await store.lookup(owner, name, rev);
    if (found.kind === "no-repo" && options.caseInsensitiveIds) {
      const canonical = await store.canonicalId(owner, name);
      if (canonical) throw new HttpRedirect(307, (req.url ?? "/").replace(`/${owner}/${name}`, `/${canonical}`));
    }
    if (found.kind === "found" && caller === undefined && (await store.readCard(found.current)).private) found = { kind: "no-repo" };
    if (found.kind === "no-repo") {
      if (options.hideRepos && caller === undefined) throw new HttpError(401, "Invalid username or password.");
      throw new HttpError(404, `Repository ${owner}/${name} not found`, "RepoNotFound");
    }
    if (found.kind === "no-revision") {
      throw new HttpError(404, `Revision ${rev} not found in ${owner}/${name}`, "RevisionNotFound");
    }
    return found;
  }

  const host = options.host ?? "127.0.0.1";
  const cdn = signer ? createCdnServer(store, signer, faults, cdnCounts) : undefined;
  const cdnUrl = cdn ? await listen(cdn, options.cdn?.port ?? 0, host) : "";
  const url = await listen(server, options.port ?? 0, host).catch(async (error: unknown) => {
    if (cdn) await closeServer(cdn);
    throw error;
  });

  return {
    url,
    ...(cdn ? { cdnUrl } : {}),
    requestCount: () => requests + cdnCounts.requests,
    requestCounts: () => ({ ...counts, cdn: cdnCounts.requests, cdnWithAuthorization: cdnCounts.withAuthorization }),
    close: async () => {
      await Promise.all([server, ...(cdn ? [cdn] : [])].map(closeServer));
    },
  };
}

async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      done();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((done, fail) => {
    server.close((error) => (error ? fail(error) : done()));
    server.closeAllConnections();
  });
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
