/** What only a path can look like: a Hub id is exactly "owner/name", without these. */
const PATH_LIKE = /^(\/|\.{1,2}(\/|$)|~)|\\|\/.*\/|\/$/;

/**
 * Whether a model spec (a CLI argument, a model of a recipe file) can only be a path: it starts with
 * "/", "./", "../" or "~", holds a backslash or two slashes, or ends with a slash. Anything else may
 * be a Hub id "owner/name[@revision]" (the revision after "@" is not looked at).
 */
export function isPathLikeModelSpec(spec: string): boolean {
  return PATH_LIKE.test(spec.replace(/@[^/]*$/, ""));
}
