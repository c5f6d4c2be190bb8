const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

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
