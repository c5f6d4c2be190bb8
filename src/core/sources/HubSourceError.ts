import type { HttpResponse } from "./HttpRequest.ts";

/** A failure that retrying cannot fix; anything else thrown while fetching is retried. */
export class HubSourceError extends Error {
  override name = "HubSourceError";
}

/** A signed URL (on another origin than the Hub's) refused with 403/410: resolve the file again. */
export class UrlExpiredError extends HubSourceError {
  override name = "UrlExpiredError";
}

/** What a request is about, for messages: "owner/name" or a pinned label, and maybe a file. */
export interface HubRequestSubject {
  name: string;
  repoId: string;
  revision?: string;
  path?: string;
}

/** A file whose identity (commit, size, ETag) differs from what the Hub first announced. */
export function fileChangedError(label: string, path: string, what: string): HubSourceError {
  return new HubSourceError(`${label}: ${path} changed on the Hub during the merge (${what})`);
}

/**
 * The one-line error for an error status of the Hub at `hubUrl`: a missing repo, revision or file, a
 * gated repo or a refused token (the Hub's `X-Error-Code`), a file that shrank (416), else the status
 * and the detail of the answer's body.
 */
export function hubStatusError(response: HttpResponse, subject: HubRequestSubject, hubUrl: string, authenticated: boolean): HubSourceError {
  const code = response.headers.get("X-Error-Code");
  const detail = errorDetail(response);
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
    return fileChangedError(name, subject.path, `it now has ${total} bytes`);
  }
  if (code === "GatedRepo") {
    return new HubSourceError(`${repoId}: gated repository; accept its conditions on the Hub and pass an access token`);
  }
  if (response.status === 401) {
    return new HubSourceError(
      authenticated
        ? `${repoId}: the Hub at ${hubUrl} refused the access token (HTTP 401)`
        : `${repoId}: not found on ${hubUrl}, or private and in need of an access token (HTTP 401)`,
    );
  }
  return new HubSourceError(`${name}: the Hub at ${hubUrl} answered HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
}

/** The `error` field of a JSON body, else the body's text: one line, at most 200 characters. */
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
