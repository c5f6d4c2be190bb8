/**
 * How long one HTTP request may wait on the network before it counts as failed (and is retried
 * like any network error). The idle timeout bounds silence, not duration: a slow but steady body
 * never times out, however large the range.
 */
export interface HttpTimeouts {
  /** Most milliseconds to open a connection (TCP, and TLS for https). */
  connectMs: number;
  /** Most milliseconds without a byte from the server: before the answer's headers, and between two pieces of its body. */
  idleMs: number;
}

/**
 * Connect: a handshake on a working route takes well under a second even across continents; 10 s
 * lets Linux resend a lost SYN twice (after 1 s and 3 s) and is what huggingface_hub allows.
 * Idle: a CDN serving an 8 MiB range slowly still sends a packet every few milliseconds, so 30 s
 * without a byte is a stall, not a slow link; 30 s leaves room for a Xet-backed CDN that assembles
 * a range before its first byte, and for a browser that queues requests behind its six connections
 * per host (fetch cannot tell the queue from the server's silence).
 */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { connectMs: 10_000, idleMs: 30_000 };

/** The longest timeout a timer can run (setTimeout's limit, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A request that waited longer than its timeout; the message says on what, and for how long. */
export class HttpTimeoutError extends Error {
  override name = "HttpTimeoutError";

  /** No connection to the URL's host within `ms`. */
  static connecting(url: string, ms: number): HttpTimeoutError {
    return new HttpTimeoutError(`timed out connecting to ${hostOf(url)} (no connection within ${seconds(ms)})`);
  }

  /** Connected (or queued), but no answer's headers within `ms`. */
  static waitingForAnswer(url: string, ms: number): HttpTimeoutError {
    return new HttpTimeoutError(`timed out waiting for ${hostOf(url)} to answer (nothing within ${seconds(ms)})`);
  }

  /** The body stalled: no byte for `ms` after `received` of `expected` bytes (undefined: not announced). */
  static readingBody(url: string, ms: number, received: number, expected: number | undefined): HttpTimeoutError {
    const of = expected === undefined ? "" : ` of ${expected}`;
    return new HttpTimeoutError(`timed out reading from ${hostOf(url)}: no bytes for ${seconds(ms)} after ${received}${of} bytes`);
  }
}

/** Checks one timeout given in options: a positive number of milliseconds a timer can run. */
export function checkTimeoutMs(name: string, value: number): number {
  if (!(value > 0 && value <= MAX_TIMEOUT_MS)) {
    throw new Error(`${name} must be a positive number of milliseconds, at most ${MAX_TIMEOUT_MS}, got ${value}`);
  }
  return value;
}

/** Host and port, never the path or query: a CDN's signed query must not reach a message. */
function hostOf(url: string): string {
  return new URL(url).host;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(3))} s`;
}
