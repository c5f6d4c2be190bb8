/**
 * When a signed URL stops working, in this machine's clock (ms since the epoch), or undefined when it
 * announces no expiry. Understands S3-style `X-Amz-Date` + `X-Amz-Expires` (what the Hub's CDNs send)
 * and CloudFront-style `Expires=<epoch seconds>`. `serverDate` (the `Date` header of the answer that gave
 * the URL, when readable) measures the URL's age on the server's own clock, so that a skewed local clock
 * neither renews every URL at once nor keeps one past its end.
 */
export function signedUrlExpiry(url: string, receivedAt: number, serverDate?: string | null): number | undefined {
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return undefined;
  }
  const server = serverDate ? Date.parse(serverDate) : Number.NaN;
  const amzExpires = query.get("X-Amz-Expires");
  if (amzExpires !== null && /^\d+$/.test(amzExpires)) {
    const lifetime = Number(amzExpires) * 1000;
    const signedAt = parseAmzDate(query.get("X-Amz-Date"));
    const age = signedAt !== undefined && !Number.isNaN(server) ? Math.min(lifetime, Math.max(0, server - signedAt)) : 0;
    return receivedAt + lifetime - age;
  }
  const expires = query.get("Expires");
  if (expires !== null && /^\d+$/.test(expires)) {
    const end = Number(expires) * 1000;
    return receivedAt + end - (Number.isNaN(server) ? receivedAt : server);
  }
  return undefined;
}

function parseAmzDate(text: string | null): number | undefined {
  const match = text?.match(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}
