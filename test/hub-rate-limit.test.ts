import { describe, expect, it } from "vitest";
import { HubRateLimiter, requestKind } from "../src/core/sources/hubRateLimiter.ts";
import { describeHubStatus } from "../src/core/sources/hubStatus.ts";
import { parseRateLimit, parseRateLimitPolicy, parseRetryAfter } from "../src/core/sources/rateLimitHeaders.ts";
import { signedUrlExpiry } from "../src/core/sources/signedUrlExpiry.ts";

describe("rate-limit headers", () => {
  it("reads the Hub's RateLimit and RateLimit-Policy (IETF draft form)", () => {
    expect(parseRateLimit('"resolvers";r=2999;t=300')).toEqual([{ policy: "resolvers", remaining: 2999, resetSeconds: 300 }]);
    expect(parseRateLimit('"api";r=10;t=5, "resolvers";r=0;t=143')).toEqual([
      { policy: "api", remaining: 10, resetSeconds: 5 },
      { policy: "resolvers", remaining: 0, resetSeconds: 143 },
    ]);
    expect(parseRateLimit("r=1;t=2")).toEqual([{ policy: "", remaining: 1, resetSeconds: 2 }]);
    expect(parseRateLimit('"resolvers";r=abc;t=1')).toEqual([]);
    expect(parseRateLimit(null)).toEqual([]);
    expect(parseRateLimitPolicy('"fixed window";"resolvers";q=3000;w=300')).toEqual([{ policy: "resolvers", quota: 3000, windowSeconds: 300 }]);
    expect(parseRateLimitPolicy('"a;b";q=5')).toEqual([{ policy: "a;b", quota: 5 }]);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 12:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter("Thu, 01 Jan 2026 11:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it("tells resolver requests from API requests", () => {
    expect(requestKind("https://hub.test/Qwen/Qwen2.5-7B/resolve/abc/model.safetensors")).toBe("resolvers");
    expect(requestKind("https://hub.test/api/models/Qwen/Qwen2.5-7B/tree/main")).toBe("api");
    expect(requestKind("https://hub.test/api/resolve-cache/models/Qwen/Qwen2.5-7B/abc/config.json")).toBe("api");
  });

  it("says how long a rate-limited merge waits, and that a token helps when none is set", () => {
    const now = 1_000_000;
    const status = { kind: "rate-limited" as const, hubUrl: "https://hub.test", resumeAt: now + 142_100, authenticated: false };
    expect(describeHubStatus(status, now)).toBe("rate-limited by the Hub, resuming in 143 s (a Hugging Face token raises the quota)");
    expect(describeHubStatus({ ...status, authenticated: true }, now)).toBe("rate-limited by the Hub, resuming in 143 s");
  });
});

describe("signed URL expiry", () => {
  const received = Date.UTC(2026, 10, 30, 20, 0, 0);
  it("takes X-Amz-Date + X-Amz-Expires, aged on the server's clock", () => {
    const url = "https://cdn.test/x?X-Amz-Date=20261130T195950Z&X-Amz-Expires=3600&X-Amz-Signature=ab";
    // Signed 10 s before the server's Date: 3590 s left, counted from when this machine got it.
    expect(signedUrlExpiry(url, received, "Mon, 30 Nov 2026 20:00:00 GMT")).toBe(received + 3_590_000);
    // A local clock an hour off changes nothing: the age is measured on the server's clock.
    expect(signedUrlExpiry(url, received + 3_600_000, "Mon, 30 Nov 2026 20:00:00 GMT")).toBe(received + 3_600_000 + 3_590_000);
    // No Date header readable (a browser following a redirect): the whole lifetime from now.
    expect(signedUrlExpiry(url, received, null)).toBe(received + 3_600_000);
  });

  it("takes CloudFront's Expires, and nothing from a URL that announces no expiry", () => {
    expect(signedUrlExpiry("https://cdn.test/x?Expires=1796068860&Signature=x", received, "Mon, 30 Nov 2026 20:00:00 GMT")).toBe(
      received + (1796068860 * 1000 - Date.UTC(2026, 10, 30, 20, 0, 0)),
    );
    expect(signedUrlExpiry("https://hub.test/a/b/resolve/main/config.json", received, null)).toBeUndefined();
  });
});

describe("HubRateLimiter", () => {
  it("holds every request of a kind after a 429 until the window resets, and only that kind", async () => {
    const limiter = new HubRateLimiter();
    const now = Date.now();
    const resumeAt = limiter.rateLimited("resolvers", new Headers({ RateLimit: '"resolvers";r=0;t=1' }), 99_999, now);
    expect(resumeAt - now).toBeGreaterThanOrEqual(1500);
    expect(resumeAt - now).toBeLessThanOrEqual(2500);
    const waits: number[] = [];
    const started = Date.now();
    expect(await limiter.beforeRequest("api", undefined, (at) => waits.push(at))).toBe(false);
    expect(Date.now() - started).toBeLessThan(50);
    expect(await limiter.beforeRequest("resolvers", undefined, (at) => waits.push(at))).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(resumeAt - 5);
    expect(waits).toEqual([resumeAt]);
  });

  it("prefers Retry-After, and a wait ends at once when its signal aborts", async () => {
    const limiter = new HubRateLimiter();
    const now = Date.now();
    const resumeAt = limiter.rateLimited("resolvers", new Headers({ "Retry-After": "30", RateLimit: '"resolvers";r=0;t=2' }), 0, now);
    expect(resumeAt - now).toBeGreaterThanOrEqual(30_500);
    const controller = new AbortController();
    const reason = new Error("cancelled");
    setTimeout(() => controller.abort(reason), 50);
    await expect(limiter.beforeRequest("resolvers", controller.signal, () => {})).rejects.toBe(reason);
  });

  it("spreads the last requests of a window over the time left, and waits for the reset when none are left", async () => {
    const limiter = new HubRateLimiter();
    limiter.observe("resolvers", new Headers({ RateLimit: '"resolvers";r=4;t=1', "RateLimit-Policy": '"fixed window";"resolvers";q=100;w=1' }));
    const sent: number[] = [];
    const started = Date.now();
    await Promise.all(Array.from({ length: 4 }, () => limiter.beforeRequest("resolvers", undefined, () => {}).then(() => sent.push(Date.now() - started))));
    // Four requests left for one second: about 250 ms apart.
    sent.sort((a, b) => a - b);
    expect(sent[3]! - sent[0]!).toBeGreaterThanOrEqual(600);
    // All four inside the window: waiting for its reset would send the last one after 1.5 s at the earliest.
    expect(sent[3]!).toBeLessThan(1400);
    const heard: number[] = [];
    limiter.observe("resolvers", new Headers({ RateLimit: '"resolvers";r=0;t=1' }));
    const before = Date.now();
    await limiter.beforeRequest("resolvers", undefined, (at) => heard.push(at));
    expect(Date.now() - before).toBeGreaterThanOrEqual(1400);
    expect(heard).toHaveLength(1);
  });
});
