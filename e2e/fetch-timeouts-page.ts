import { fetchRequest } from "../src/core/sources/fetchRequest.ts";

/**
 * The page side of e2e/fetch-timeouts.spec.ts, bundled by the spec: runs the core's fetchRequest
 * (what the studio's Hub reads use) in the browser and reports how each request ended.
 */

export interface FetchTimeoutsCase {
  url: string;
  timeouts: { connectMs: number; idleMs: number };
  /** Read the body into a buffer of this many bytes (the BYOB path), else whole. */
  intoBytes?: number;
  /** Abort with the reason "cancelled" after this many milliseconds. */
  abortAfterMs?: number;
}

export interface FetchTimeoutsResult {
  seconds: number;
  /** How the request failed: the error's name and message; absent when it succeeded. */
  error?: { name: string; message: string };
  /** The body, on success. */
  body?: number[];
}

async function runFetchTimeoutsCase(request: FetchTimeoutsCase): Promise<FetchTimeoutsResult> {
  const controller = new AbortController();
  if (request.abortAfterMs !== undefined) setTimeout(() => controller.abort(new Error("cancelled")), request.abortAfterMs);
  const started = performance.now();
  const into = request.intoBytes === undefined ? undefined : new Uint8Array(request.intoBytes);
  try {
    const response = await fetchRequest(request.url, { timeouts: request.timeouts, signal: controller.signal, ...(into ? { into } : {}) });
    return { seconds: (performance.now() - started) / 1000, body: Array.from(response.body) };
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return { seconds: (performance.now() - started) / 1000, error: { name, message } };
  }
}

Object.assign(window, { __fetchTimeouts: { runFetchTimeoutsCase } });
