import { fileDownloadInfo, listFiles, modelInfo, type FileDownloadInfoOutput } from "@huggingface/hub";
import { fetchRequest } from "./fetchRequest.ts";
import type { ModelSource, RepoFile } from "./ModelSource.ts";

export interface HubSourceOptions {
  /** Default https://huggingface.co */
  hubUrl?: string;
  /** Sent as `Authorization: Bearer …`; never shown in a message or a URL. */
  accessToken?: string;
  /** How HTTP requests are sent (default: the platform's fetch); Node passes a faster one. */
  request?: HttpRequest;
  /** Retries after a network error, a 5xx, a 429 or a body cut short. Default 5. */
  retries?: number;
  /** The n-th retry waits about retryBaseMs * 2^n milliseconds (0.5x to 1.5x, at random). Default 200. */
  retryBaseMs?: number;
}

/** A failure that retrying cannot fix; anything else thrown while fetching is retried. */
class HubSourceError extends Error {
  override name = "HubSourceError";
}

/** One HTTP exchange, its body read whole. */
export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: Uint8Array;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Where the response body may be read to, if it fits (see ModelSource.read). */
  into?: Uint8Array;
}

/** Sends one request and reads the whole body; rejects (like fetch) when the network fails. */
export type HttpRequest = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

interface HubClient {
  hubUrl: string;
  accessToken: string | undefined;
  request: HttpRequest;
  retries: number;
  retryBaseMs: number;
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
 * listing and read names that sha, and a file whose ETag or size changes between reads is refused,
 * so a repo updated during a merge can never mix two versions.
 */
export async function openHubSource(spec: string, options: HubSourceOptions = {}): Promise<ModelSource> {
  const { repoId, revision: requested } = parseHubSpec(spec);
  const client = hubClient(options);
  const { hubUrl, accessToken } = client;

  const info = await modelInfo({
    name: repoId,
    revision: requested,
    additionalFields: ["sha"],
    hubUrl,
    accessToken,
    fetch: hubFetch(client, { name: repoId, repoId, revision: requested ?? "main" }),
  });
  const sha = info.sha;
  if (typeof sha !== "string" || !COMMIT_SHA.test(sha)) {
    throw new Error(`${repoId}: the Hub at ${hubUrl} did not report a commit sha for ${requested ?? "the default branch"}`);
  }
  const label = `${repoId}@${sha}`;
  const pinned = { name: label, repoId, revision: sha };

  let closed = false;
  const listings = cacheUntilFailure(loadListing);
  const downloads = cacheUntilFailure(loadDownloadInfo);
  /** The ETag each file had on its first read: later reads must match it. */
  const etags = new Map<string, string>();

  const ensureOpen = () => {
    if (closed) throw new Error(`${label}: the source is closed`);
  };
  const files = () => listings.get(sha);

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

  async function loadDownloadInfo(file: RepoFile): Promise<FileDownloadInfoOutput> {
    const subject = { ...pinned, path: file.path };
    const found = await fileDownloadInfo({
      repo: repoId,
      path: encodePath(file.path),
      revision: sha,
      hubUrl,
      accessToken,
      fetch: hubFetch(client, subject),
    });
    if (!found) throw new HubSourceError(`${label}: file "${file.path}" not found on ${hubUrl}`);
    if (found.size !== file.size) throw changed(label, file.path, `size ${file.size} → ${found.size}`);
    return found;
  }

  /** Refuses any response that shows the file is no longer the one first read. */
  const sameFile =
    (file: RepoFile): ResponseCheck =>
    (response, range) => {
      const etag = response.headers.get("X-Linked-Etag") ?? response.headers.get("ETag");
      if (etag !== null) {
        const first = etags.get(file.path);
        if (first === undefined) etags.set(file.path, etag);
        else if (first !== etag) throw changed(label, file.path, `ETag ${first} → ${etag}`);
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
      const info = await withSignal(downloads.get(file), signal);
      // The ranged GET goes to the URL the library resolved, without a Response object in between:
      // the library's Blob and each Response copy the body again, which costs seconds on a GB-sized model.
      const headers: Record<string, string> = { Range: `bytes=${offset}-${offset + length - 1}` };
      if (accessToken && new URL(info.url).origin === new URL(hubUrl).origin) headers.Authorization = `Bearer ${accessToken}`;
      const response = await requestWithRetries(client, { ...pinned, path }, info.url, { headers, signal, into }, sameFile(file));
      return response.body;
    },

    async close() {
      closed = true;
      listings.clear();
      downloads.clear();
    },
  };
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
  if (options.accessToken !== undefined && !options.accessToken.startsWith("hf_")) {
    throw new Error('the access token must start with "hf_"');
  }
  return {
    hubUrl: given.replace(/\/+$/, ""),
    accessToken: options.accessToken || undefined,
    request: options.request ?? fetchRequest,
    retries,
    retryBaseMs,
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
 * retried like a network error, a 5xx or a 429; every other error status becomes a one-line
 * HubSourceError. After `signal` aborts it only rethrows its reason.
 */
async function requestWithRetries(
  client: HubClient,
  subject: Subject,
  url: string,
  init: HttpRequestInit,
  check?: ResponseCheck,
): Promise<HttpResponse> {
  const { signal } = init;
  const range = parseRequestRange(init.headers?.Range ?? init.headers?.range);
  let lastProblem = "";
  let unreachable = false;
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    let response: HttpResponse | undefined;
    unreachable = false;
    try {
      response = await client.request(url, init);
      if (response.status === 429 || response.status >= 500) {
        lastProblem = `HTTP ${response.status}`;
      } else {
        if (response.status < 200 || response.status >= 300) throw statusError(client, subject, response);
        const expected = check ? check(response, range) : expectedLength(response);
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
      lastProblem = describe(error);
    }
    if (attempt >= client.retries) {
      if (unreachable) throw new HubSourceError(`cannot reach the Hub at ${client.hubUrl}: ${lastProblem}`);
      const what = subject.path ? `${subject.name}: ${subject.path}` : subject.name;
      throw new HubSourceError(`${what}: the Hub at ${client.hubUrl} kept failing (${lastProblem}) after ${attempt + 1} attempts`);
    }
    // Jitter, so that parallel reads that failed together do not retry in lockstep.
    await sleep(client.retryBaseMs * 2 ** attempt * (0.5 + Math.random()), signal);
  }
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
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
