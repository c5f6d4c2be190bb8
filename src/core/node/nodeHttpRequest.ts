import { Agent, interceptors, request } from "undici";
import type { HttpRequest } from "../sources/openHubSource.ts";

const agent = new Agent({ keepAliveTimeout: 10_000 });
/**
 * Follows up to 5 redirects (the Hub redirects file downloads to a CDN); undici's redirect handler
 * drops the Authorization header when a redirect leaves the origin. With `redirect: "manual"` the
 * plain agent answers the redirect itself, so that the caller sees the resolver's headers.
 */
const following = agent.compose(interceptors.redirect({ maxRedirections: 5 }));

/**
 * HTTP for the Hub source in Node, on undici's request API. Node's fetch hands large bodies through
 * web streams and copies each twice more in arrayBuffer(): for 8 MiB range reads on loopback here,
 * 0.1 GB/s with fetch, 0.4 GB/s with node:http and 0.64 GB/s with undici.request. The body goes
 * straight into `into` when the announced length fits.
 */
export const nodeHttpRequest: HttpRequest = async (url, init) => {
  let response;
  try {
    response = await request(url, {
      method: (init.method ?? "GET") as "GET",
      headers: init.headers,
      body: init.body,
      signal: init.signal,
      dispatcher: init.redirect === "manual" ? agent : following,
    });
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
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
    // A body cut short: return what came, and the caller's length check retries the request.
    if (length === 0) throw new TypeError("fetch failed", { cause: error });
  }
  return { status: response.statusCode, statusText: "", headers, body: body.subarray(0, length) };
};
