export const DEFAULT_HUB_URL = "https://huggingface.co";

/** The Hub URL the page starts with: `?hub=`, else the build's VITE_HUB_URL, else huggingface.co. */
export function initialHubUrl(search: string): string {
  const fromQuery = new URLSearchParams(search).get("hub");
  const fromEnv: string | undefined = import.meta.env.VITE_HUB_URL;
  for (const candidate of [fromQuery, fromEnv]) {
    if (!candidate) continue;
    try {
      return normalizeHubUrl(candidate);
    } catch {
      // An unusable override falls through to the next one; the field shows what is used.
    }
  }
  return DEFAULT_HUB_URL;
}

/** Checks a typed Hub URL and drops trailing slashes; throws a plain-words error. */
export function normalizeHubUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new Error(`“${input}” is not a valid URL, e.g. https://huggingface.co`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`The Hub URL must start with http:// or https://, not ${url.protocol}//`);
  }
  return url.href.replace(/\/+$/, "");
}
