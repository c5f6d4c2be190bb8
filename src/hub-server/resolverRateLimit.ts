/** A fixed-window quota of resolver requests, as the Hub announces it in `RateLimit` / `RateLimit-Policy`. */
export interface RateLimitOptions {
  /** Resolver requests allowed per window without a token (the Hub: 3000). */
  quota: number;
  /** Requests allowed per window with a valid token (the Hub: 5000); default `quota`. */
  tokenQuota?: number;
  /** Window length in seconds (the Hub: 300). */
  windowSeconds: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** Headers every resolver answer carries, the 429 included. */
  headers: Record<string, string>;
}

interface Window {
  startedAt: number;
  used: number;
}

/** Counts resolver requests per client (a token, or anonymous) in fixed windows that start with the first request. */
export class ResolverRateLimit {
  private readonly options: Required<RateLimitOptions>;
  private readonly windows = new Map<string, Window>();

  constructor(options: RateLimitOptions) {
    const tokenQuota = options.tokenQuota ?? options.quota;
    for (const [name, value] of Object.entries({ quota: options.quota, tokenQuota, windowSeconds: options.windowSeconds })) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`rateLimit.${name} must be a positive integer, got ${value}`);
    }
    this.options = { ...options, tokenQuota };
  }

  /** Takes one request from `client`'s window (`undefined`: anonymous), or refuses it past the quota. */
  take(client: string | undefined, now = Date.now()): RateLimitDecision {
    const key = client ?? "";
    const windowMs = this.options.windowSeconds * 1000;
    let window = this.windows.get(key);
    if (!window || now - window.startedAt >= windowMs) {
      window = { startedAt: now, used: 0 };
      this.windows.set(key, window);
    }
    const quota = client === undefined ? this.options.quota : this.options.tokenQuota;
    const allowed = window.used < quota;
    if (allowed) window.used++;
    const resetSeconds = Math.max(1, Math.ceil((window.startedAt + windowMs - now) / 1000));
    return {
      allowed,
      headers: {
        RateLimit: `"resolvers";r=${quota - window.used};t=${resetSeconds}`,
        "RateLimit-Policy": `"fixed window";"resolvers";q=${quota};w=${this.options.windowSeconds}`,
      },
    };
  }
}
