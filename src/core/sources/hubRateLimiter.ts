import { parseRateLimit, parseRateLimitPolicy, parseRetryAfter } from "./rateLimitHeaders.ts";

/** Which quota a request to the Hub's own origin counts against: "resolvers" (file downloads) or "api". */
export type RequestKind = "resolvers" | "api";

/** Requests are paced once fewer than this share of the quota (or of 100 when the quota is unknown) is left. */
const PACE_BELOW_SHARE = 0.1;

/** After a 429 or an exhausted window, requests resume this long after the announced reset, at random in 0.5x..1.5x. */
const RESUME_MARGIN_MS = 1000;

interface KindState {
  remaining?: number;
  resetAt?: number;
  quota?: number;
  /** Earliest time the next paced request may go. */
  nextSlot: number;
  /** No request of this kind before this time (a 429 was answered). */
  blockedUntil: number;
}

export function requestKind(url: string): RequestKind {
  const path = new URL(url).pathname;
  return /\/(resolve|raw)\//.test(path) && !path.startsWith("/api/") ? "resolvers" : "api";
}

/**
 * Keeps a client under the Hub's rate limits: reads `RateLimit` / `RateLimit-Policy` from every answer,
 * spreads the remaining requests of a window over the time left when few are left, holds every request
 * of a kind after a 429 until the window resets (`Retry-After` or `t`, plus a margin with jitter).
 */
export class HubRateLimiter {
  private readonly kinds = new Map<RequestKind, KindState>();

  /**
   * Waits, when the quota asks for it, before a request of `kind` is sent; `onWait` hears of a wait of a
   * second or more, and when it will end. True when it waited that long.
   */
  async beforeRequest(kind: RequestKind, signal: AbortSignal | undefined, onWait: (resumeAt: number) => void): Promise<boolean> {
    const state = this.state(kind);
    const now = Date.now();
    if (state.resetAt !== undefined && state.resetAt <= now) {
      state.remaining = undefined;
      state.resetAt = undefined;
    }
    let until = Math.max(now, state.blockedUntil);
    if (until === now && state.remaining !== undefined && state.resetAt !== undefined) {
      if (state.remaining <= 0) {
        until = state.resetAt + jitter();
        state.blockedUntil = until;
      } else if (state.remaining < PACE_BELOW_SHARE * (state.quota ?? 100)) {
        until = Math.max(now, state.nextSlot);
        state.nextSlot = until + Math.max(0, state.resetAt - until) / state.remaining;
      }
      state.remaining--;
    }
    if (until <= now) return false;
    const reported = until - now >= 1000;
    if (reported) onWait(until);
    await sleep(until - now, signal);
    return reported;
  }

  /** Learns the quota left from an answer of the Hub's origin. */
  observe(kind: RequestKind, headers: Headers, receivedAt = Date.now()): void {
    const states = parseRateLimit(headers.get("RateLimit"));
    const current = states.find((s) => s.policy === kind) ?? (states.length === 1 ? states[0] : undefined);
    if (!current) return;
    const state = this.state(kind);
    state.remaining = current.remaining;
    state.resetAt = receivedAt + current.resetSeconds * 1000;
    const policies = parseRateLimitPolicy(headers.get("RateLimit-Policy"));
    const policy = policies.find((p) => p.policy === current.policy) ?? (policies.length === 1 ? policies[0] : undefined);
    if (policy) state.quota = policy.quota;
  }

  /**
   * After a 429: when requests of `kind` may resume (ms since the epoch), from `Retry-After`, else the
   * window's reset `t`, else `fallbackMs`; every request of that kind waits until then.
   */
  rateLimited(kind: RequestKind, headers: Headers, fallbackMs: number, now = Date.now()): number {
    this.observe(kind, headers, now);
    const retryAfter = parseRetryAfter(headers.get("Retry-After"), now);
    const reset = parseRateLimit(headers.get("RateLimit")).find((s) => s.policy === kind || s.policy === "")?.resetSeconds;
    const seconds = retryAfter ?? reset;
    const resumeAt = seconds === undefined ? now + fallbackMs : now + seconds * 1000 + jitter();
    const state = this.state(kind);
    state.blockedUntil = Math.max(state.blockedUntil, resumeAt);
    return state.blockedUntil;
  }

  private state(kind: RequestKind): KindState {
    let state = this.kinds.get(kind);
    if (!state) {
      state = { nextSlot: 0, blockedUntil: 0 };
      this.kinds.set(kind, state);
    }
    return state;
  }
}

const limiters = new Map<string, HubRateLimiter>();

/** One limiter per Hub and token: the Hub counts a client's requests across all the repos it reads. */
export function sharedRateLimiter(hubUrl: string, accessToken: string | undefined): HubRateLimiter {
  const key = `${hubUrl}\n${accessToken ?? ""}`;
  let limiter = limiters.get(key);
  if (!limiter) {
    limiter = new HubRateLimiter();
    limiters.set(key, limiter);
  }
  return limiter;
}

function jitter(): number {
  return RESUME_MARGIN_MS * (0.5 + Math.random());
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
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
