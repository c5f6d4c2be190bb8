import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { HttpError } from "./respond.ts";
import { fileEtag, type RepoSnapshot } from "./repoStore.ts";

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  yaml: "text/yaml; charset=utf-8",
  jinja: "text/plain; charset=utf-8",
};

type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * One `bytes=` range (`a-b`, `a-`, `-n`) as an inclusive [start, end] clipped to the file.
 * A header that is malformed or asks for several ranges is ignored (RFC 9110 allows that): the whole file is sent.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  const match = header?.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}

/**
 * `GET`/`HEAD /OWNER/NAME/resolve|raw/REV/PATH`. `snapshot` is the revision asked for, `current` the folder now.
 * A folder keeps no history, so an older revision is served with today's bytes and today's ETag:
 * a client that pinned the older revision sees the ETag change and knows the file moved under it.
 */
export function serveFile(
  root: string,
  req: IncomingMessage,
  res: ServerResponse,
  snapshot: RepoSnapshot,
  current: RepoSnapshot,
  path: string,
  truncate: () => boolean,
): void {
  const file = snapshot.files.has(path) ? current.files.get(path) : undefined;
  if (!file) {
    throw new HttpError(404, `${snapshot.id}: no file "${path}" at revision ${snapshot.sha}`, "EntryNotFound");
  }
  const etag = fileEtag(current.id, file);
  const headers: Record<string, string | number> = {
    "Content-Type": CONTENT_TYPES[path.split(".").pop() ?? ""] ?? "application/octet-stream",
    "Accept-Ranges": "bytes",
    ETag: etag,
    "X-Linked-Etag": etag,
    "X-Linked-Size": file.size,
    "X-Repo-Commit": snapshot.sha,
    "Last-Modified": new Date(file.mtimeMs).toUTCString(),
  };
  const range = parseRange(req.headers.range, file.size);
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...headers, "Content-Range": `bytes */${file.size}`, "Content-Length": 0 });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? file.size - 1;
  const length = end - start + 1;
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${file.size}`;
  res.writeHead(range ? 206 : 200, { ...headers, "Content-Length": length });
  if (req.method === "HEAD" || length === 0) {
    res.end();
    return;
  }
  const cut = truncate();
  const sent = cut ? Math.floor(length / 2) : length;
  if (sent === 0) {
    res.flushHeaders();
    res.destroy();
    return;
  }
  // 1 MiB reads: the default 64 KiB makes a GB-sized download cost thousands of small writes.
  const stream = createReadStream(join(root, current.id, path), { start, end: start + sent - 1, highWaterMark: 2 ** 20 });
  if (cut) {
    stream.on("error", () => res.destroy());
    stream.on("end", () => res.write("", () => res.destroy()));
    stream.pipe(res, { end: false });
    return;
  }
  pipeline(stream, res, (error) => {
    if (error) res.destroy();
  });
}
