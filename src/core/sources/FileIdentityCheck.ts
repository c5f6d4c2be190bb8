import { parseContentRange } from "./byteRanges.ts";
import type { FileLocation } from "./FileLocationCache.ts";
import { fileChangedError, HubSourceError } from "./HubSourceError.ts";
import type { RepoFile } from "./ModelSource.ts";
import type { ResponseCheck } from "./requestWithRetries.ts";

/**
 * Refuses any answer that shows a file of a repo pinned to commit `sha` is no longer the one first seen:
 * another commit or size (the resolver's `X-Repo-Commit`, `X-Linked-Size`), or another ETag than the
 * first one the Hub's own origin announced (`X-Linked-Etag`, else `ETag`) or than the first one a CDN
 * URL answered with.
 */
export class FileIdentityCheck {
  private readonly label: string;
  private readonly sha: string;
  private readonly hubUrl: string;
  /** Each file's identity as the Hub's own origin first announced it. */
  private readonly identities = new Map<string, string>();

  constructor(label: string, sha: string, hubUrl: string) {
    this.label = label;
    this.sha = sha;
    this.hubUrl = hubUrl;
  }

  /** Checks the identity headers of an answer of the Hub's own origin. */
  headers(file: RepoFile, headers: Headers): void {
    const { label, sha } = this;
    const commit = headers.get("X-Repo-Commit");
    if (commit !== null && commit !== sha) throw fileChangedError(label, file.path, `commit ${sha} → ${commit}`);
    const size = headers.get("X-Linked-Size");
    if (size !== null && Number(size) !== file.size) throw fileChangedError(label, file.path, `size ${file.size} → ${size}`);
    const etag = headers.get("X-Linked-Etag") ?? headers.get("ETag");
    if (etag === null) return;
    const first = this.identities.get(file.path);
    if (first === undefined) this.identities.set(file.path, etag);
    else if (first !== etag) throw fileChangedError(label, file.path, `ETag ${first} → ${etag}`);
  }

  /** Checks a ranged answer from `location`: the file's identity (Hub origin) or the URL's own ETag (CDN), and the range. */
  rangedAnswer(file: RepoFile, location: FileLocation): ResponseCheck {
    const { label, hubUrl } = this;
    return (response, range) => {
      if (location.hubOrigin) {
        this.headers(file, response.headers);
      } else {
        const etag = response.headers.get("ETag");
        if (etag !== null) {
          location.etag ??= etag;
          if (location.etag !== etag) throw fileChangedError(label, file.path, `ETag ${location.etag} → ${etag} at the CDN`);
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
        throw fileChangedError(label, file.path, `size ${file.size} → ${answered.total}`);
      }
      if (answered.start !== range.start || answered.end !== range.end) {
        throw new HubSourceError(`${label}: ${file.path}: asked for bytes ${range.start}-${range.end}, got ${answered.start}-${answered.end}`);
      }
      return range.end - range.start + 1;
    };
  }
}
