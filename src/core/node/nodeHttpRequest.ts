import { Agent, errors, interceptors, request, type Dispatcher } from "undici";
import { DEFAULT_HTTP_TIMEOUTS, HttpTimeoutError } from "../sources/httpTimeouts.ts";
import { createDirectHttpRequest, UnsupportedFramingError } from "./directHttpRequest.ts";
import type { HttpRequest } from "../sources/HttpRequest.ts";

interface Dispatchers {
  /** Answers a redirect as it is (`redirect: "manual"`). */
  plain: Agent;
  /**
   * Follows up to 5 redirects (the Hub redirects file downloads to a CDN); undici's redirect handler
   * drops the Authorization header when a redirect leaves the origin.
   */
  following: Dispatcher;
}

/** One pair of agents per connect timeout (undici sets it per agent; the other timeouts are per request). */
const byConnectTimeout = new Map<number, Dispatchers>();

function dispatchersFor(connectMs: number): Dispatchers {
  let found = byConnectTimeout.get(connectMs);
  if (!found) {
    const plain = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: connectMs } });
    found = { plain, following: plain.compose(interceptors.redirect({ maxRedirections: 5 })) };
    byConnectTimeout.set(connectMs, found);
  }
  return found;
}

const directHttpRequest = createDirectHttpRequest();

/**
 * HTTP for the Hub source in Node. A GET whose body has a buffer to go to (the weights' ranged reads)
 * goes through directHttpRequest, which reads the body into it straight from the socket; one
 * answered with another framing than Content-Length is asked again here. Everything else goes
 * through undici's request API. Node's fetch hands large bodies through
 * web streams and copies each twice more in arrayBuffer(): for 8 MiB range reads on loopback here,
 * 0.1 GB/s with fetch, 0.4 GB/s with node:http and 0.64 GB/s with undici.request. The body goes
 * straight into `into` when the announced length fits. `timeouts` map onto undici's connect timeout,
 * and its headers and body timeouts (both the idle timeout: undici's body timeout is the longest gap
 * between two pieces of the body).
 */
export const nodeHttpRequest: HttpRequest = async (url, init) => {
  if (init.into && (init.method ?? "GET") === "GET" && init.body === undefined) {
    try {
      return await directHttpRequest(url, init);
    } catch (error) {
      if (!(error instanceof UnsupportedFramingError)) throw error;
    }
  }
  const { connectMs, idleMs } = init.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const dispatchers = dispatchersFor(connectMs);
  let response;
  try {
    const sent = request(url, {
      method: (init.method ?? "GET") as "GET",
      headers: init.headers,
      body: init.body,
      signal: init.signal,
      dispatcher: init.redirect === "manual" ? dispatchers.plain : dispatchers.following,
      headersTimeout: idleMs,
      bodyTimeout: idleMs,
    });
    response = await untilAborted(sent, init.signal);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    if (error instanceof errors.ConnectTimeoutError) throw HttpTimeoutError.connecting(url, connectMs);
    if (error instanceof errors.HeadersTimeoutError) throw HttpTimeoutError.waitingForAnswer(url, idleMs);
    throw new TypeError("fetch failed", { cause: error });
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const announced = Number(headers.get("content-length"));
  const size = Number.isSafeInteger(announced) && announced > 0 ? announced : 0;
  let body = init.into && init.into.byteLength >= size ? init.into : new Uint8Array(size);
  let length = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      if (length + chunk.length > body.length) {
        const grown = new Uint8Array(Math.max(2 * body.length, length + chunk.length));
        grown.set(body.subarray(0, length));
        body = grown;
      }
      body.set(chunk, length);
      length += chunk.length;
    }
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    if (error instanceof errors.BodyTimeoutError) throw HttpTimeoutError.readingBody(url, idleMs, length, size > 0 ? size : undefined);
    // A body cut short: return what came, and the caller's length check retries the request.
    if (length === 0) throw new TypeError("fetch failed", { cause: error });
  }
  return { status: response.statusCode, statusText: "", headers, body: body.subarray(0, length) };
};

/**
 * undici notices an abort only once a connection attempt ends (up to the connect timeout later):
 * the caller's abort rejects at once, and an answer that still comes has its body discarded.
 */
function untilAborted(sent: Promise<Dispatcher.ResponseData>, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
  if (!signal) return sent;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      sent.then((late) => late.body.destroy(), () => {});
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    sent.then(
      (response) => {
        signal.removeEventListener("abort", onAbort);
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
