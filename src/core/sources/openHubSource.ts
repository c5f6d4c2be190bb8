import { listFiles, modelInfo } from "@huggingface/hub";
import { fetchRequest } from "./fetchRequest.ts";
import { checkTimeoutMs, DEFAULT_HTTP_TIMEOUTS, HttpTimeoutError, type HttpTimeouts } from "./httpTimeouts.ts";
import { requestKind, sharedRateLimiter, sleep, type HubRateLimiter } from "./hubRateLimiter.ts";
import type { HubStatus } from "./hubStatus.ts";
import type { ModelSource, RepoFile } from "./ModelSource.ts";
import { signedUrlExpiry } from "./signedUrlExpiry.ts";

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

/** A Hub repo pinned to one commit, with the counts of what it sent. */
export interface HubModelSource extends ModelSource {
  stats(): HubSourceStats;
}

/** A failure that retrying cannot fix; anything else thrown while fetching is retried. */
class HubSourceError extends Error {
  override name = "HubSourceError";
}

/** A signed URL (on another origin than the Hub's) refused with 403/410: resolve the file again. */
class UrlExpiredError extends HubSourceError {
  override name = "UrlExpiredError";
}

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

interface HubClient {
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

/** What a request is about, for messages: "owner/name" or a pinned label, and maybe a file. */
interface Subject {
  name: string;
  repoId: string;
  revision?: string;
  path?: string;
}

/** Inspects a successful response: throws to refuse it, returns the body length it must have. */
type ResponseCheck = (response: HttpResponse, range: ByteSpan | undefined) => number | undefined;

interface RequestOptions {
  check?: ResponseCheck;
  /** Return 3xx answers (with `redirect: "manual"`) instead of refusing them. */
  redirects?: boolean;
  /** A 403/410 answered by another origin than the Hub's (a CDN) means a signed URL expired (UrlExpiredError). */
  expirable?: boolean;
}

/** Where a file's bytes are read from, once resolved. */
interface FileLocation {
  url: string;
  /** On the Hub's own origin: it gets the token, and its answers carry the file's identity. */
  hubOrigin: boolean;
  /** Resolve again from this time on (this machine's clock); undefined: the URL does not expire. */
  renewAt?: number;
  /** The ETag of the first answer from a URL on another origin (a CDN's own ETag): later answers must match. */
  etag?: string;
}

/** Most redirects between the Hub's own resolver URLs (a renamed repo, a case-corrected id) before a CDN or a file. */
const MAX_RESOLVER_HOPS = 5;
/** Most resolutions in a row for one read whose URLs were refused or already expired. */
const MAX_RENEWALS = 3;
/** A URL is renewed this long before its announced expiry: a quarter of its lifetime, at most a minute. */
const renewMargin = (lifetimeMs: number) => Math.min(60_000, lifetimeMs / 4);

interface ByteSpan {
  start: number;
  end: number;
}

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** Splits "owner/name" or "owner/name@revision". */
export function parseHubSpec(spec: string): { repoId: string; revision?: string } {
  const at = spec.indexOf("@");
  const repoId = at < 0 ? spec : spec.slice(0, at);
  const parts = repoId.split("/");
  if (parts.length !== 2 || !parts.every((part) => REPO_PART.test(part) && !part.includes(".."))) {
    throw new Error(`invalid model "${spec}": expected "owner/name" or "owner/name@revision"`);
  }
  if (at < 0) return { repoId };
  const revision = spec.slice(at + 1);
  if (revision === "" || /\s/.test(revision)) {
    throw new Error(`invalid model "${spec}": the revision after "@" is empty or contains spaces`);
  }
  return { repoId, revision };
}

/**
 * A Hub model repo as a ModelSource, pinned to the commit sha that `spec` resolves to now: every
 * listing and read names that sha, and a file whose identity (the resolver's `X-Linked-Etag`, size
 * and commit) changes between reads is refused, so a repo updated during a merge can never mix two
 * versions. Each file is resolved once: the URL the resolver redirects to (a signed CDN URL) serves
 * every ranged read until it nears its announced expiry or is refused, then the file is resolved again.
 */
export async function openHubSource(spec: string, options: HubSourceOptions = {}): Promise<HubModelSource> {
  const { repoId: asked, revision: requested } = parseHubSpec(spec);
  const client = hubClient(options);
  const { hubUrl, accessToken } = client;

  const info = await modelInfo({
    name: asked,
    revision: requested,
    additionalFields: ["sha"],
    hubUrl,
    accessToken,
    fetch: hubFetch(client, { name: asked, repoId: asked, revision: requested ?? "main" }),
  });
  const sha = info.sha;
  if (typeof sha !== "string" || !COMMIT_SHA.test(sha)) {
    throw new Error(`${asked}: the Hub at ${hubUrl} did not report a commit sha for ${requested ?? "the default branch"}`);
  }
  // The Hub matches ids ignoring case: name the repo as the Hub spells it, so that no read is redirected.
  const repoId = typeof info.name === "string" && info.name.toLowerCase() === asked.toLowerCase() ? info.name : asked;
  const label = `${repoId}@${sha}`;
  const pinned = { name: label, repoId, revision: sha };

  let closed = false;
  const listings = cacheUntilFailure(loadListing);
  const locations = new LocationCache(resolveLocation);
  /** Each file's identity as the Hub's own origin first announced it (X-Linked-Etag, else ETag): later answers must match. */
  const identities = new Map<string, string>();

  const ensureOpen = () => {
    if (closed) throw new Error(`${label}: the source is closed`);
  };
  const files = () => listings.get(sha);
  const authorization = (url: string): Record<string, string> =>
    accessToken && new URL(url).origin === client.hubOrigin ? { Authorization: `Bearer ${accessToken}` } : {};

  async function loadListing(revision: string): Promise<Map<string, RepoFile>> {
    const found: RepoFile[] = [];
    const fetch = hubFetch(client, pinned);
    const entries = listFiles({ repo: repoId, revision, recursive: true, hubUrl, accessToken, fetch });
    for await (const entry of entries) {
      if (entry.type === "file") found.push({ path: entry.path, size: entry.size });
    }
    found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return new Map(found.map((file) => [file.path, file]));
  }

  /** Refuses an answer of the Hub's own origin that shows the file is no longer the one first seen. */
  function checkIdentity(file: RepoFile, headers: Headers): void {
    const commit = headers.get("X-Repo-Commit");
    if (commit !== null && commit !== sha) throw changed(label, file.path, `commit ${sha} → ${commit}`);
    const size = headers.get("X-Linked-Size");
    if (size !== null && Number(size) !== file.size) throw changed(label, file.path, `size ${file.size} → ${size}`);
    const etag = headers.get("X-Linked-Etag") ?? headers.get("ETag");
    if (etag === null) return;
    const first = identities.get(file.path);
    if (first === undefined) identities.set(file.path, etag);
    else if (first !== etag) throw changed(label, file.path, `ETag ${first} → ${etag}`);
  }

  /**
   * Asks the resolver where `file` lives: a redirect's Location (a signed CDN URL, with its expiry, or the
   * Hub's resolve-cache) is taken without fetching it; where the platform follows redirects itself
   * (browsers), the final URL of a one-byte read is.
   */
  async function resolveLocation(file: RepoFile, signal: AbortSignal | undefined): Promise<FileLocation> {
    let url = `${hubUrl}/${repoId}/resolve/${sha}/${encodePath(file.path)}`;
    const subject = { ...pinned, path: file.path };
    for (let hop = 0; ; hop++) {
      client.stats.resolves++;
      const receivedAt = Date.now();
      const headers = { Range: "bytes=0-0", ...authorization(url) };
      let response: HttpResponse;
      try {
        response = await requestWithRetries(client, subject, url, { headers, signal, redirect: "manual" }, { redirects: true, expirable: true });
      } catch (error) {
        // A platform that follows redirects itself met a CDN URL that expired on the way (a slow hop): ask again.
        if (error instanceof UrlExpiredError && hop < MAX_RESOLVER_HOPS) continue;
        throw error;
      }
      if (response.status >= 300) {
        checkIdentity(file, response.headers);
        const location = response.headers.get("Location");
        if (!location) throw new HubSourceError(`${label}: ${file.path}: the Hub at ${hubUrl} redirected without a Location`);
        const next = new URL(location, url).href;
        const hubOrigin = new URL(next).origin === client.hubOrigin;
        if (hubOrigin && requestKind(next) === "resolvers" && hop < MAX_RESOLVER_HOPS) {
          url = next;
          continue;
        }
        return { url: next, hubOrigin, ...renewal(next, receivedAt, response.headers.get("Date")) };
      }
      const final = response.url || url;
      const hubOrigin = new URL(final).origin === client.hubOrigin;
      if (hubOrigin) checkIdentity(file, response.headers);
      const etag = hubOrigin ? undefined : (response.headers.get("ETag") ?? undefined);
      return { url: final, hubOrigin, ...renewal(final, receivedAt, null), ...(etag ? { etag } : {}) };
    }
  }

  /** Checks a ranged answer: the file's identity (Hub origin) or the URL's own ETag (CDN), and the range. */
  const sameFile =
    (file: RepoFile, location: FileLocation): ResponseCheck =>
    (response, range) => {
      if (location.hubOrigin) {
        checkIdentity(file, response.headers);
      } else {
        const etag = response.headers.get("ETag");
        if (etag !== null) {
          location.etag ??= etag;
          if (location.etag !== etag) throw changed(label, file.path, `ETag ${location.etag} → ${etag} at the CDN`);
        }
      }
      if (!range) {
        if (response.status !== 200) throw new HubSourceError(`${label}: ${file.path}: unexpected HTTP ${response.status}`);
        return file.size;
      }
      const answered = parseContentRange(response.headers.get("Content-Range"));
      if (response.status !== 206 || !answered) {
        throw new HubSourceError(`${label}: ${file.path}: the Hub at ${hubUrl} ignored the byte range request`);
      }
      if (answered.total !== undefined && answered.total !== file.size) {
        throw changed(label, file.path, `size ${file.size} → ${answered.total}`);
      }
      if (answered.start !== range.start || answered.end !== range.end) {
        throw new HubSourceError(
          `${label}: ${file.path}: asked for bytes ${range.start}-${range.end}, got ${answered.start}-${answered.end}`,
        );
      }
      return range.end - range.start + 1;
    };

  return {
    label,
    repoId,
    revision: sha,

    stats: () => ({ ...client.stats }),

    async listFiles(signal) {
      ensureOpen();
      return [...(await withSignal(files(), signal)).values()].map((file) => ({ ...file }));
    },

    async read(path, offset, length, signal, into) {
      ensureOpen();
      signal?.throwIfAborted();
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
        throw new RangeError(`${label}: ${path}: invalid byte range (offset ${offset}, length ${length})`);
      }
      const file = (await withSignal(files(), signal)).get(path);
      if (!file) throw new Error(`${label}: file "${path}" not found on ${hubUrl}`);
      if (offset + length > file.size) {
        throw new Error(`${label}: ${path}: wanted bytes ${offset}..${offset + length} but the file has ${file.size} bytes`);
      }
      if (length === 0) return new Uint8Array(0);
      for (let renewals = 0; ; renewals++) {
        const location = await locations.get(file, signal);
        const expired = location.renewAt !== undefined && Date.now() >= location.renewAt;
        if (!expired) {
          // The ranged GET goes to the file's URL without a Response object in between: a Response
          // copies the body again, which costs seconds on a GB-sized model.
          const headers = { Range: `bytes=${offset}-${offset + length - 1}`, ...authorization(location.url) };
          const init = { headers, signal, into };
          try {
            const response = await requestWithRetries(client, { ...pinned, path }, location.url, init, {
              check: sameFile(file, location),
              expirable: !location.hubOrigin,
            });
            client.stats.reads++;
            return response.body;
          } catch (error) {
            if (!(error instanceof UrlExpiredError) || renewals >= MAX_RENEWALS) throw error;
          }
        } else if (renewals >= MAX_RENEWALS) {
          throw new HubSourceError(`${label}: ${path}: the Hub at ${hubUrl} keeps handing out URLs that have already expired`);
        }
        if (locations.forget(file.path, location)) client.stats.renewals++;
      }
    },

    async close() {
      closed = true;
      listings.clear();
      locations.clear();
    },
  };
}

/** When to resolve a URL again: a margin before its announced expiry; nothing when it announces none. */
function renewal(url: string, receivedAt: number, serverDate: string | null): { renewAt?: number } {
  const expiresAt = signedUrlExpiry(url, receivedAt, serverDate);
  if (expiresAt === undefined) return {};
  return { renewAt: expiresAt - renewMargin(expiresAt - receivedAt) };
}

/** One resolution per file shared by every read, until a read finds it stale and forgets it. */
class LocationCache {
  private readonly loads = new Map<string, { promise: Promise<FileLocation>; signal: AbortSignal | undefined }>();
  private readonly settled = new Map<string, FileLocation>();
  private readonly resolve: (file: RepoFile, signal: AbortSignal | undefined) => Promise<FileLocation>;

  constructor(resolve: (file: RepoFile, signal: AbortSignal | undefined) => Promise<FileLocation>) {
    this.resolve = resolve;
  }

  /** The file's location. A resolution that another read's abort stopped is started again for this one. */
  async get(file: RepoFile, signal: AbortSignal | undefined): Promise<FileLocation> {
    for (;;) {
      let load = this.loads.get(file.path);
      if (!load) {
        const started = { promise: this.resolve(file, signal), signal };
        this.loads.set(file.path, started);
        started.promise.then(
          (location) => this.settled.set(file.path, location),
          () => {
            if (this.loads.get(file.path) === started) this.loads.delete(file.path);
          },
        );
        load = started;
      }
      try {
        return await withSignal(load.promise, signal);
      } catch (error) {
        if (signal?.aborted || !load.signal?.aborted || load.signal === signal) throw error;
      }
    }
  }

  /** Forgets `location` if it is still the file's current one; true when it was. */
  forget(path: string, location: FileLocation): boolean {
    if (this.settled.get(path) !== location) return false;
    this.settled.delete(path);
    this.loads.delete(path);
    return true;
  }

  clear(): void {
    this.loads.clear();
    this.settled.clear();
  }
}

function hubClient(options: HubSourceOptions): HubClient {
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

/**
 * The fetch handed to @huggingface/hub: every request goes through `requestWithRetries`, so the
 * library's metadata calls get the same retries and one-line errors as the weight reads.
 */
function hubFetch(client: HubClient, subject: Subject): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = typeof init?.body === "string" ? init.body : undefined;
    const response = await requestWithRetries(client, subject, url, { method: init?.method, headers, body });
    const nullBody = init?.method === "HEAD" || response.status === 204 || response.status === 304;
    return new Response(nullBody ? null : (response.body as Uint8Array<ArrayBuffer>), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/**
 * Sends a request and reads its body in full, so that a connection that breaks off mid-body is
 * retried like a network error or a 5xx; a 429 of the Hub's origin is waited out (until its window
 * resets, without using up a retry) and reported through `onStatus`; every other error status becomes
 * a one-line HubSourceError. A request that times out (connect or idle) is retried like a network error,
 * and the last timeout names the host and how long it waited. Requests to the Hub's origin are paced
 * when its quota runs low. After `signal` aborts, only its reason is thrown.
 */
async function requestWithRetries(
  client: HubClient,
  subject: Subject,
  url: string,
  init: HttpRequestInit,
  options: RequestOptions = {},
): Promise<HttpResponse> {
  const { signal } = init;
  const range = parseRequestRange(init.headers?.Range ?? init.headers?.range);
  const kind = new URL(url).origin === client.hubOrigin ? requestKind(url) : undefined;
  const what = subject.path ? `${subject.name}: ${subject.path}` : subject.name;
  let lastProblem = "";
  let unreachable = false;
  let timedOut = false;
  let rateLimited = 0;
  for (let attempt = 0; ; ) {
    signal?.throwIfAborted();
    let response: HttpResponse | undefined;
    unreachable = false;
    timedOut = false;
    try {
      if (kind && (await client.limiter.beforeRequest(kind, signal, (resumeAt) => waitingOn(client, resumeAt)))) {
        client.onStatus?.({ kind: "resumed", hubUrl: client.hubUrl });
      }
      response = await client.request(url, { ...init, timeouts: client.timeouts });
      if (kind) client.limiter.observe(kind, response.headers);
      if (response.status === 429 && kind) {
        const resumeAt = client.limiter.rateLimited(kind, response.headers, backoffMs(client, attempt));
        if (++rateLimited > client.rateLimitWaits) {
          throw new HubSourceError(
            `${what}: the Hub at ${client.hubUrl} still rate-limits this client (HTTP 429) after ${client.rateLimitWaits} waits for its quota to reset ` +
              `(the next reset in ${Math.ceil((resumeAt - Date.now()) / 1000)} s); the quota is too low for this merge${client.accessToken ? "" : " (a Hugging Face token raises it)"}`,
          );
        }
        waitingOn(client, resumeAt);
        await sleep(resumeAt - Date.now(), signal);
        client.onStatus?.({ kind: "resumed", hubUrl: client.hubUrl });
        continue;
      }
      rateLimited = 0;
      if (response.status === 429 || response.status >= 500) {
        lastProblem = `HTTP ${response.status}`;
      } else if (options.redirects && response.status >= 300 && response.status < 400) {
        return response;
      } else {
        const answeredBy = new URL(response.url || url).origin;
        if (options.expirable && answeredBy !== client.hubOrigin && (response.status === 403 || response.status === 410)) {
          throw new UrlExpiredError(`${what}: the signed URL at ${answeredBy} was refused (HTTP ${response.status})`);
        }
        if (response.status < 200 || response.status >= 300) throw statusError(client, subject, response);
        const expected = options.check ? options.check(response, range) : expectedLength(response);
        if (init.method !== "HEAD" && expected !== undefined && response.body.length !== expected) {
          lastProblem = `the body ended after ${response.body.length} of ${expected} bytes`;
        } else {
          return response;
        }
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof HubSourceError) throw error;
      unreachable = response === undefined;
      timedOut = error instanceof HttpTimeoutError;
      lastProblem = describe(error);
    }
    if (attempt >= client.retries) {
      if (timedOut) throw new HubSourceError(`${what}: ${lastProblem} (${attempt + 1} ${attempt === 0 ? "attempt" : "attempts"})`);
      if (unreachable) throw new HubSourceError(`cannot reach the Hub at ${client.hubUrl}: ${lastProblem}`);
      throw new HubSourceError(`${what}: the Hub at ${client.hubUrl} kept failing (${lastProblem}) after ${attempt + 1} attempts`);
    }
    await sleep(backoffMs(client, attempt), signal);
    attempt++;
  }
}

/** The wait before retry `attempt` + 1, with jitter so that parallel reads that failed together do not retry in lockstep. */
function backoffMs(client: HubClient, attempt: number): number {
  return client.retryBaseMs * 2 ** attempt * (0.5 + Math.random());
}

function waitingOn(client: HubClient, resumeAt: number): void {
  client.stats.rateLimitWaits++;
  client.onStatus?.({ kind: "rate-limited", hubUrl: client.hubUrl, resumeAt, authenticated: client.accessToken !== undefined });
}

function statusError(client: HubClient, subject: Subject, response: HttpResponse): HubSourceError {
  const code = response.headers.get("X-Error-Code");
  const detail = errorDetail(response);
  const { hubUrl } = client;
  const { name, repoId } = subject;
  if (code === "RepoNotFound" || (response.status === 404 && !code && !subject.path)) {
    return new HubSourceError(`${repoId}: repository not found on ${hubUrl}`);
  }
  if (code === "RevisionNotFound") {
    return new HubSourceError(`${repoId}: revision "${subject.revision}" not found on ${hubUrl}`);
  }
  if (code === "EntryNotFound" || response.status === 404) {
    return new HubSourceError(`${name}: file "${subject.path ?? ""}" not found on ${hubUrl}`);
  }
  if (response.status === 416 && subject.path) {
    const total = response.headers.get("Content-Range")?.split("/")[1] ?? "fewer";
    return changed(name, subject.path, `it now has ${total} bytes`);
  }
  if (code === "GatedRepo") {
    return new HubSourceError(`${repoId}: gated repository; accept its conditions on the Hub and pass an access token`);
  }
  if (response.status === 401) {
    return new HubSourceError(
      client.accessToken
        ? `${repoId}: the Hub at ${hubUrl} refused the access token (HTTP 401)`
        : `${repoId}: not found on ${hubUrl}, or private and in need of an access token (HTTP 401)`,
    );
  }
  return new HubSourceError(`${name}: the Hub at ${hubUrl} answered HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
}

function errorDetail(response: HttpResponse): string {
  const text = new TextDecoder().decode(response.body);
  let detail = text;
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === "object" && "error" in json && typeof json.error === "string") detail = json.error;
  } catch {
    // Not JSON: the raw text is the detail.
  }
  return detail.replace(/\s+/g, " ").trim().slice(0, 200);
}

function changed(label: string, path: string, what: string): HubSourceError {
  return new HubSourceError(`${label}: ${path} changed on the Hub during the merge (${what})`);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    return cause instanceof Error && cause.message ? cause.message : error.message;
  }
  return String(error);
}

/** The body length a response announces, where it can be trusted: compressed bodies are decoded by fetch. */
function expectedLength(response: HttpResponse): number | undefined {
  const range = parseContentRange(response.headers.get("Content-Range"));
  if (response.status === 206 && range) return range.end - range.start + 1;
  const encoding = response.headers.get("Content-Encoding");
  const length = response.headers.get("Content-Length");
  if (length === null || (encoding && encoding !== "identity")) return undefined;
  return Number(length);
}

function parseRequestRange(header: string | undefined): ByteSpan | undefined {
  const match = header?.match(/^bytes=(\d+)-(\d+)$/);
  return match ? { start: Number(match[1]), end: Number(match[2]) } : undefined;
}

function parseContentRange(header: string | null): (ByteSpan & { total?: number }) | undefined {
  const match = header?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), ...(match[3] === "*" ? {} : { total: Number(match[3]) }) };
}

/** @huggingface/hub splices the path into the URL as is. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Shares one load per key between callers, and forgets a load that failed so that the next call tries again. */
function cacheUntilFailure<K, V>(load: (key: K) => Promise<V>): { get(key: K): Promise<V>; clear(): void } {
  const loads = new Map<K, Promise<V>>();
  return {
    get(key) {
      let loading = loads.get(key);
      if (!loading) {
        const started = load(key);
        loads.set(key, started);
        started.catch(() => {
          if (loads.get(key) === started) loads.delete(key);
        });
        loading = started;
      }
      return loading;
    },
    clear: () => loads.clear(),
  };
}

/** Awaits a shared promise but gives up as soon as this caller's signal aborts. */
function withSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
