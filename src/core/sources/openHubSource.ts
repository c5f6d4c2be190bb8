import { listFiles, modelInfo } from "@huggingface/hub";
import { cacheUntilFailure } from "./cacheUntilFailure.ts";
import { FileIdentityCheck } from "./FileIdentityCheck.ts";
import { FileLocationCache } from "./FileLocationCache.ts";
import { authorizationFor, createHubClient, type HubSourceOptions, type HubSourceStats } from "./hubClient.ts";
import { hubFetch } from "./hubFetch.ts";
import { HubSourceError, UrlExpiredError } from "./HubSourceError.ts";
import type { ModelSource, RepoFile } from "./ModelSource.ts";
import { parseHubSpec } from "./parseHubSpec.ts";
import { requestWithRetries } from "./requestWithRetries.ts";
import { resolveFileLocation } from "./resolveFileLocation.ts";
import { withSignal } from "./withSignal.ts";

export type { HttpRequest, HttpResponse } from "./HttpRequest.ts";
export { parseHubSpec } from "./parseHubSpec.ts";

/** A Hub repo pinned to one commit, with the counts of what it sent. */
export interface HubModelSource extends ModelSource {
  stats(): HubSourceStats;
}

/** Most resolutions in a row for one read whose URLs were refused or already expired. */
const MAX_RENEWALS = 3;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

/**
 * A Hub model repo as a ModelSource, pinned to the commit sha that `spec` resolves to now: every
 * listing and read names that sha, and a file whose identity (the resolver's `X-Linked-Etag`, size
 * and commit) changes between reads is refused, so a repo updated during a merge can never mix two
 * versions. Each file is resolved once: the URL the resolver redirects to (a signed CDN URL) serves
 * every ranged read until it nears its announced expiry or is refused, then the file is resolved again.
 */
export async function openHubSource(spec: string, options: HubSourceOptions = {}): Promise<HubModelSource> {
  const { repoId: asked, revision: requested } = parseHubSpec(spec);
  const client = createHubClient(options);
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
  const identities = new FileIdentityCheck(label, sha, hubUrl);
  const locations = new FileLocationCache((file, signal) => resolveFileLocation(client, pinned, file, identities, signal));

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
          const headers = { Range: `bytes=${offset}-${offset + length - 1}`, ...authorizationFor(client, location.url) };
          const init = { headers, signal, into };
          try {
            const response = await requestWithRetries(client, { ...pinned, path }, location.url, init, {
              check: identities.rangedAnswer(file, location),
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
