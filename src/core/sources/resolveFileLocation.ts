import type { FileIdentityCheck } from "./FileIdentityCheck.ts";
import type { FileLocation } from "./FileLocationCache.ts";
import type { HttpResponse } from "./HttpRequest.ts";
import { authorizationFor, type HubClient } from "./hubClient.ts";
import { requestKind } from "./hubRateLimiter.ts";
import { HubSourceError, UrlExpiredError, type HubRequestSubject } from "./HubSourceError.ts";
import type { RepoFile } from "./ModelSource.ts";
import { requestWithRetries } from "./requestWithRetries.ts";
import { signedUrlExpiry } from "./signedUrlExpiry.ts";

/** Most redirects between the Hub's own resolver URLs (a renamed repo, a case-corrected id) before a CDN or a file. */
const MAX_RESOLVER_HOPS = 5;
/** A URL is renewed this long before its announced expiry: a quarter of its lifetime, at most a minute. */
const renewMargin = (lifetimeMs: number) => Math.min(60_000, lifetimeMs / 4);

/**
 * Asks the resolver of the repo `pinned` names (its `revision` a commit sha) where `file` lives: a
 * redirect's Location (a signed CDN URL, with its expiry, or the Hub's resolve-cache) is taken without
 * fetching it; where the platform follows redirects itself (browsers), the final URL of a one-byte read
 * is. Every answer of the Hub's own origin goes through `identities`.
 */
export async function resolveFileLocation(
  client: HubClient,
  pinned: HubRequestSubject & { revision: string },
  file: RepoFile,
  identities: FileIdentityCheck,
  signal: AbortSignal | undefined,
): Promise<FileLocation> {
  const { hubUrl } = client;
  let url = `${hubUrl}/${pinned.repoId}/resolve/${pinned.revision}/${encodePath(file.path)}`;
  const subject = { ...pinned, path: file.path };
  for (let hop = 0; ; hop++) {
    client.stats.resolves++;
    const receivedAt = Date.now();
    const headers = { Range: "bytes=0-0", ...authorizationFor(client, url) };
    let response: HttpResponse;
    try {
      response = await requestWithRetries(client, subject, url, { headers, signal, redirect: "manual" }, { redirects: true, expirable: true });
    } catch (error) {
      // A platform that follows redirects itself met a CDN URL that expired on the way (a slow hop): ask again.
      if (error instanceof UrlExpiredError && hop < MAX_RESOLVER_HOPS) continue;
      throw error;
    }
    if (response.status >= 300) {
      identities.headers(file, response.headers);
      const location = response.headers.get("Location");
      if (!location) throw new HubSourceError(`${pinned.name}: ${file.path}: the Hub at ${hubUrl} redirected without a Location`);
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
    if (hubOrigin) identities.headers(file, response.headers);
    const etag = hubOrigin ? undefined : (response.headers.get("ETag") ?? undefined);
    return { url: final, hubOrigin, ...renewal(final, receivedAt, null), ...(etag ? { etag } : {}) };
  }
}

/** When to resolve a URL again: a margin before its announced expiry; nothing when it announces none. */
function renewal(url: string, receivedAt: number, serverDate: string | null): { renewAt?: number } {
  const expiresAt = signedUrlExpiry(url, receivedAt, serverDate);
  if (expiresAt === undefined) return {};
  return { renewAt: expiresAt - renewMargin(expiresAt - receivedAt) };
}

/** @huggingface/hub splices the path into the URL as is. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
