import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import type { FaultCounter } from "./faults.ts";
import { fileEtag, type RepoFileStat, type RepoStore } from "./repoStore.ts";
import { contentType, sendFileBytes } from "./serveFile.ts";
import type { UrlSigner } from "./signedUrl.ts";

/** What the CDN origin has seen, for tests: requests (preflights aside) and those that carried `Authorization`. */
export interface CdnCounts {
  requests: number;
  withAuthorization: number;
}

const CDN_CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
  // Authorization is allowed so that a client that leaks it is seen (and counted) rather than stopped by the preflight.
  "Access-Control-Allow-Headers": "Range, Authorization, If-None-Match, If-Range",
  "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges",
  "Access-Control-Max-Age": "86400",
};

/** The path of a file on the CDN: `/repos/OWNER/NAME/COMMIT/PATH`, each segment URL-encoded. */
export function cdnPath(repoId: string, commit: string, path: string): string {
  return `/repos/${repoId}/${commit}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/** The CDN's own ETag of a file (S3 style: not the SHA-256 the Hub announces). */
function cdnEtag(repoId: string, file: RepoFileStat): string {
  return `"${createHash("md5").update(fileEtag(repoId, file)).digest("hex")}"`;
}

/**
 * A second origin that serves LFS files at signed, expiring URLs, as the Hub's CDN does: Range / 206 /
 * 416, its own ETag, `Access-Control-Allow-Origin: *`, 403 once a URL expired or when its signature is wrong.
 */
export function createCdnServer(store: RepoStore, signer: UrlSigner, faults: FaultCounter, counts: CdnCounts): Server {
  return createServer((req, res) => {
    for (const [name, value] of Object.entries(CDN_CORS_HEADERS)) res.setHeader(name, value);
    if (req.method === "OPTIONS") {
      res.writeHead(204);
      res.end();
      return;
    }
    counts.requests++;
    if (req.headers.authorization !== undefined) counts.withAuthorization++;
    serve(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else refuse(res, 500, "InternalError", (error as Error).message ?? String(error));
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") return refuse(res, 405, "MethodNotAllowed", `${req.method} is not allowed`);
    const url = new URL(req.url ?? "/", "http://cdn.invalid");
    const refusal = signer.refusal(url.pathname, url.searchParams);
    if (refusal) return refuse(res, 403, "AccessDenied", refusal);
    const [, repos, owner = "", name = "", commit = "", ...rest] = url.pathname.split("/").map(decodeURIComponent);
    if (repos !== "repos" || rest.length === 0) return refuse(res, 404, "NoSuchKey", "The specified key does not exist.");
    const path = rest.join("/");
    const found = await store.currentFile(owner, name, commit, path);
    if (!found) return refuse(res, 404, "NoSuchKey", "The specified key does not exist.");
    const { id, file } = found;
    const fault = faults.nextFileRequest();
    if (fault === "503") return refuse(res, 503, "SlowDown", "Please reduce your request rate. (injected fault)");
    if (fault === "drop") {
      req.socket.destroy();
      return;
    }
    const headers = {
      "Content-Type": contentType(path),
      ETag: cdnEtag(id, file),
      "Last-Modified": new Date(file.mtimeMs).toUTCString(),
    };
    await sendFileBytes(req, res, join(store.root, id, path), file.size, headers, () => faults.nextBody());
  }
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>\n`;
  res.writeHead(status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
