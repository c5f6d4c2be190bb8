import { fetchRequest } from "./fetchRequest.ts";
import { checkTimeoutMs, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from "./httpTimeouts.ts";
import type { HttpRequest } from "./HttpRequest.ts";
import { sharedRateLimiter, type HubRateLimiter } from "./hubRateLimiter.ts";
import type { HubStatus } from "./hubStatus.ts";

export interface HubSourceOptions {
  /** Default https://huggingface.co */
  hubUrl?: string;
  /** Sent as `Authorization: Bearer …`; never shown in a message or a URL. */
  accessToken?: string;
  /** How HTTP requests are sent (default: the platform's fetch); Node passes a faster one. */
  request?: HttpRequest;
  /**
   * Most milliseconds to open a connection before the attempt counts as a network error (and is retried).
   * Default 10 000 (see DEFAULT_HTTP_TIMEOUTS). Where the platform cannot tell connecting from waiting
   * (fetch), the answer's headers may take this and `idleTimeoutMs` together.
   */
  connectTimeoutMs?: number;
  /**
   * Most milliseconds without a byte from the server, before the answer's headers and between two pieces
   * of its body, before the attempt counts as a network error (and is retried). It bounds a stall, not a
   * slow transfer. Default 30 000 (see DEFAULT_HTTP_TIMEOUTS).
   */
  idleTimeoutMs?: number;
  /** Retries after a network error (a timeout included), a 5xx, a body cut short or a 429 of another origin than the Hub's (a 429 of the Hub is waited out instead). Default 5. */
  retries?: number;
  /** The n-th retry waits about retryBaseMs * 2^n milliseconds (0.5x to 1.5x, at random). Default 200. */
  retryBaseMs?: number;
  /** Hears when requests wait on the Hub's rate limit, and when they resume. */
  onStatus?: (status: HubStatus) => void;
  /**
   * How many 429 answers in a row one request waits out before it fails with a clear error (a quota too
   * low for the merge to progress). Waits do not use up `retries`. Default 5.
   */
  rateLimitWaits?: number;
}

/** What a Hub source has sent, for tests and benchmarks. */
export interface HubSourceStats {
  /** Requests to the Hub's resolver for a file's URL (the first, each renewal, and any redirect between resolver URLs). */
  resolves: number;
  /** Resolutions again after a URL expired, neared its expiry or was refused (403/410). */
  renewals: number;
  /** Ranged reads answered by a file's URL. */
  reads: number;
  /** Waits on the Hub's rate limit (after a 429, or pacing an almost spent quota). */
  rateLimitWaits: number;
}

/** HubSourceOptions checked and filled with defaults: what every request of one Hub source shares. */
export interface HubClient {
  hubUrl: string;
  hubOrigin: string;
  accessToken: string | undefined;
  request: HttpRequest;
  retries: number;
  retryBaseMs: number;
  rateLimitWaits: number;
  timeouts: HttpTimeouts;
  limiter: HubRateLimiter;
  onStatus: ((status: HubStatus) => void) | undefined;
  /** Counts shared with the source that owns this client. */
  stats: HubSourceStats;
}

/** Checks `options` (one clear error for each bad value) and fills in the defaults. */
export function createHubClient(options: HubSourceOptions): HubClient {
  const given = options.hubUrl ?? "https://huggingface.co";
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new Error(`invalid Hub URL "${given}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`invalid Hub URL "${given}": not http(s)`);
  const retries = options.retries ?? 5;
  const retryBaseMs = options.retryBaseMs ?? 200;
  if (!Number.isInteger(retries) || retries < 0) throw new Error(`retries must be a non-negative integer, got ${retries}`);
  if (!(retryBaseMs >= 0)) throw new Error(`retryBaseMs must be >= 0, got ${retryBaseMs}`);
  const rateLimitWaits = options.rateLimitWaits ?? 5;
  if (!Number.isInteger(rateLimitWaits) || rateLimitWaits < 0) {
    throw new Error(`rateLimitWaits must be a non-negative integer, got ${rateLimitWaits}`);
  }
  const timeouts = {
    connectMs: checkTimeoutMs("connectTimeoutMs", options.connectTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.connectMs),
    idleMs: checkTimeoutMs("idleTimeoutMs", options.idleTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.idleMs),
  };
  if (options.accessToken !== undefined && !options.accessToken.startsWith("hf_")) {
    throw new Error('the access token must start with "hf_"');
  }
  const hubUrl = given.replace(/\/+$/, "");
  const accessToken = options.accessToken || undefined;
  return {
    hubUrl,
    hubOrigin: url.origin,
    accessToken,
    request: options.request ?? fetchRequest,
    retries,
    retryBaseMs,
    rateLimitWaits,
    timeouts,
    limiter: sharedRateLimiter(hubUrl, accessToken),
    onStatus: options.onStatus,
    stats: { resolves: 0, renewals: 0, reads: 0, rateLimitWaits: 0 },
  };
}

/** The Authorization header for `url`: the token goes to the Hub's own origin only, never to a CDN. */
export function authorizationFor(client: HubClient, url: string): Record<string, string> {
  return client.accessToken && new URL(url).origin === client.hubOrigin ? { Authorization: `Bearer ${client.accessToken}` } : {};
}
