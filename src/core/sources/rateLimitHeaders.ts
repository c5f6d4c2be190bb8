/** One policy of a `RateLimit` header (IETF draft form, as the Hub sends it: `"resolvers";r=2999;t=300`). */
export interface RateLimitState {
  /** The policy's name ("resolvers", "api", ...); "" when the header names none. */
  policy: string;
  /** Requests left in the current window. */
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** One policy of a `RateLimit-Policy` header (`"fixed window";"resolvers";q=3000;w=300`). */
export interface RateLimitPolicy {
  policy: string;
  /** Requests allowed per window. */
  quota: number;
  /** Window length in seconds, when given. */
  windowSeconds?: number;
}

interface HeaderItem {
  /** Quoted strings and bare tokens of the item, in order: the last one is the policy's name. */
  names: string[];
  params: Map<string, string>;
}

/** Splits a list header at commas and each item at semicolons, leaving quoted strings whole. */
function parseItems(header: string): HeaderItem[] {
  const items: HeaderItem[] = [];
  for (const item of splitOutsideQuotes(header, ",")) {
    const parsed: HeaderItem = { names: [], params: new Map() };
    for (const part of splitOutsideQuotes(item, ";")) {
      const text = part.trim();
      if (text === "") continue;
      const equals = text.indexOf("=");
      if (equals > 0 && !text.startsWith('"')) parsed.params.set(text.slice(0, equals).trim().toLowerCase(), unquote(text.slice(equals + 1).trim()));
      else parsed.names.push(unquote(text));
    }
    if (parsed.names.length > 0 || parsed.params.size > 0) items.push(parsed);
  }
  return items;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

function nonNegative(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** Every policy in a `RateLimit` header that has both `r` and `t`; others are ignored. */
export function parseRateLimit(header: string | null): RateLimitState[] {
  if (!header) return [];
  return parseItems(header).flatMap((item) => {
    const remaining = nonNegative(item.params.get("r"));
    const resetSeconds = nonNegative(item.params.get("t"));
    if (remaining === undefined || resetSeconds === undefined) return [];
    return [{ policy: item.names.at(-1) ?? "", remaining, resetSeconds }];
  });
}

/** Every policy in a `RateLimit-Policy` header that has a quota `q`. */
export function parseRateLimitPolicy(header: string | null): RateLimitPolicy[] {
  if (!header) return [];
  return parseItems(header).flatMap((item) => {
    const quota = nonNegative(item.params.get("q"));
    if (quota === undefined) return [];
    const windowSeconds = nonNegative(item.params.get("w"));
    return [{ policy: item.names.at(-1) ?? "", quota, ...(windowSeconds === undefined ? {} : { windowSeconds }) }];
  });
}

/** `Retry-After` (seconds, or an HTTP date) as seconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  const seconds = nonNegative(text);
  if (seconds !== undefined) return seconds;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}
