import type { HttpTimeouts } from "./httpTimeouts.ts";

/** One HTTP exchange, its body read whole. */
export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: Uint8Array;
  /** The URL that answered, when the platform followed redirects to it (fetch's `response.url`). */
  url?: string;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Connect and idle timeouts; default DEFAULT_HTTP_TIMEOUTS. A timeout rejects with an HttpTimeoutError. */
  timeouts?: HttpTimeouts;
  /** Where the response body may be read to, if it fits (see ModelSource.read). */
  into?: Uint8Array;
  /**
   * "manual": answer a redirect as it is (status, Location and the resolver's headers) where the platform
   * allows; browsers follow redirects whatever is asked (the `url` of the answer says where it came from).
   */
  redirect?: "follow" | "manual";
}

/** Sends one request and reads the whole body; rejects (like fetch) when the network fails. */
export type HttpRequest = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;
