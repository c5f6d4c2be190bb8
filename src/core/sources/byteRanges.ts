/** Bytes start..end of a file, both included (as HTTP ranges count them). */
export interface ByteSpan {
  start: number;
  end: number;
}

/** The span of a `Range: bytes=start-end` request header; undefined for any other form. */
export function parseRequestRange(header: string | undefined): ByteSpan | undefined {
  const match = header?.match(/^bytes=(\d+)-(\d+)$/);
  return match ? { start: Number(match[1]), end: Number(match[2]) } : undefined;
}

/** The span and total of a `Content-Range: bytes start-end/total` answer header (total "*": unknown). */
export function parseContentRange(header: string | null): (ByteSpan & { total?: number }) | undefined {
  const match = header?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), ...(match[3] === "*" ? {} : { total: Number(match[3]) }) };
}
