import { open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";

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

/** Bytes per file read: 2 MiB, so that a GB-sized download costs a few hundred reads and writes. */
const PIECE_BYTES = 2 * 2 ** 20;
/** Read buffers no response holds, kept for the next (two per response being sent). */
const MAX_SPARE_PIECES = 16;
const sparePieces: Buffer[] = [];

/**
 * Answers a GET or HEAD for the bytes of `diskPath` (`size` bytes) with `headers`, honouring one
 * `Range` (206 with Content-Range, 416 past the end). `truncate` is asked once per body sent: true
 * cuts the body in half after the full Content-Length was announced (an injected fault).
 * Resolves once the answer is sent or its connection destroyed (a read that fails midway, a client gone).
 */
export async function sendFileBytes(
  req: IncomingMessage,
  res: ServerResponse,
  diskPath: string,
  size: number,
  headers: Record<string, string | number>,
  truncate: () => boolean,
): Promise<void> {
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
  try {
    await sendBytes(res, diskPath, start, sent);
  } catch {
    res.destroy();
    return;
  }
  if (cut) res.write("", () => res.destroy());
  else res.end();
}

/**
 * Writes `count` bytes of `diskPath` from `start` to `res` through two reused buffers: the next
 * piece is read while the last one is being written, and a buffer is read into again only once
 * its write has completed (no Buffer per read to collect, no stream machinery per piece).
 */
async function sendBytes(res: ServerResponse, diskPath: string, start: number, count: number): Promise<void> {
  const handle = await open(diskPath, "r");
  let [piece, spare] = [sparePieces.pop() ?? Buffer.allocUnsafe(PIECE_BYTES), sparePieces.pop() ?? Buffer.allocUnsafe(PIECE_BYTES)];
  let writing: Promise<void> = Promise.resolve();
  let reusable = false;
  try {
    for (let done = 0; done < count; [piece, spare] = [spare, piece]) {
      const { bytesRead } = await handle.read(piece, 0, Math.min(PIECE_BYTES, count - done), start + done);
      if (bytesRead === 0) throw new Error(`${diskPath} ended at byte ${start + done}, before ${start + count}`);
      await writing;
      writing = writePiece(res, piece.subarray(0, bytesRead));
      // Handled at the next `await writing`; until then a failed write must not count as unhandled.
      writing.catch(() => undefined);
      done += bytesRead;
    }
    await writing;
    reusable = true;
  } finally {
    // A buffer a failed write may still hold is left to the collector.
    if (reusable) sparePieces.push(...[piece, spare].slice(0, MAX_SPARE_PIECES - sparePieces.length));
    await handle.close();
  }
}

/** Resolves once `res` has handed `bytes` to the socket; rejects if the connection closes first. */
function writePiece(res: ServerResponse, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error("the connection closed during the answer"));
    res.once("close", onClose);
    res.write(bytes, (error) => {
      res.off("close", onClose);
      if (error) reject(error);
      else resolve();
    });
  });
}
