import { parseContentRange, parseRequestRange, type ByteSpan } from "./byteRanges.ts";
import type { HubClient } from "./hubClient.ts";
import { HttpTimeoutError } from "./httpTimeouts.ts";
import type { HttpRequestInit, HttpResponse } from "./HttpRequest.ts";
import { requestKind, sleep } from "./hubRateLimiter.ts";
import { hubStatusError, HubSourceError, UrlExpiredError, type HubRequestSubject } from "./HubSourceError.ts";

/** Inspects a successful response: throws to refuse it, returns the body length it must have. */
export type ResponseCheck = (response: HttpResponse, range: ByteSpan | undefined) => number | undefined;

export interface RetryOptions {
  check?: ResponseCheck;
  /** Return 3xx answers (with `redirect: "manual"`) instead of refusing them. */
  redirects?: boolean;
  /** A 403/410 answered by another origin than the Hub's (a CDN) means a signed URL expired (UrlExpiredError). */
  expirable?: boolean;
}

/**
 * Sends a request and reads its body in full, so that a connection that breaks off mid-body is
 * retried like a network error or a 5xx; a 429 of the Hub's origin is waited out (until its window
 * resets, without using up a retry) and reported through `onStatus`; every other error status becomes
 * a one-line HubSourceError. A request that times out (connect or idle) is retried like a network error,
 * and the last timeout names the host and how long it waited. Requests to the Hub's origin are paced
 * when its quota runs low. After `signal` aborts, only its reason is thrown.
 */
export async function requestWithRetries(
  client: HubClient,
  subject: HubRequestSubject,
  url: string,
  init: HttpRequestInit,
  options: RetryOptions = {},
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
        if (response.status < 200 || response.status >= 300) throw hubStatusError(response, subject, client.hubUrl, client.accessToken !== undefined);
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
