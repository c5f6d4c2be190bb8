import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream";

const CONTENT_TYPES: Record<string, string> = {
  json: "application/json; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  yaml: "text/yaml; charset=utf-8",
  jinja: "text/plain; charset=utf-8",
};

type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/** The Content-Type a file is served with, from its extension. */
export function contentType(path: string): string {
  return CONTENT_TYPES[path.split(".").pop() ?? ""] ?? "application/octet-stream";
}

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
 * Answers a GET or HEAD for the bytes of `diskPath` (`size` bytes) with `headers`, honouring one
 * `Range` (206 with Content-Range, 416 past the end). `truncate` is asked once per body sent: true
 * cuts the body in half after the full Content-Length was announced (an injected fault).
 */
export function sendFileBytes(
  req: IncomingMessage,
  res: ServerResponse,
  diskPath: string,
  size: number,
  headers: Record<string, string | number>,
  truncate: () => boolean,
): void {
  const all: Record<string, string | number> = { ...headers, "Accept-Ranges": "bytes" };
  const range = parseRange(req.headers.range, size);
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...all, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = end - start + 1;
  if (range) all["Content-Range"] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range ? 206 : 200, { ...all, "Content-Length": length });
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
  const stream = createReadStream(diskPath, { start, end: start + sent - 1, highWaterMark: 2 ** 20 });
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
