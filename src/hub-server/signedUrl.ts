import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Signs and checks CDN URLs the way S3 presigned URLs look: `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-Signature`. */
export class UrlSigner {
  private readonly secret = randomBytes(32);
  readonly ttlSeconds: number;

  constructor(ttlSeconds: number) {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error(`cdn.urlTtlSeconds must be a positive integer, got ${ttlSeconds}`);
    this.ttlSeconds = ttlSeconds;
  }

  /** `base` + `path` with a query that expires `ttlSeconds` after `now`. */
  sign(base: string, path: string, now = Date.now()): string {
    const date = amzDate(now);
    const query = new URLSearchParams({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Credential": `LOCALHUB/${date.slice(0, 8)}/local/s3/aws4_request`,
      "X-Amz-Date": date,
      "X-Amz-Expires": String(this.ttlSeconds),
      "X-Amz-SignedHeaders": "host",
    });
    query.set("X-Amz-Signature", this.signature(path, date, String(this.ttlSeconds)));
    return `${base}${path}?${query}`;
  }

  /** Why a request for `path` with `query` is refused, or undefined when it is signed and not expired. */
  refusal(path: string, query: URLSearchParams, now = Date.now()): string | undefined {
    const date = query.get("X-Amz-Date") ?? "";
    const expires = query.get("X-Amz-Expires") ?? "";
    const given = Buffer.from(query.get("X-Amz-Signature") ?? "", "hex");
    const expected = Buffer.from(this.signature(path, date, expires), "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "SignatureDoesNotMatch";
    const signedAt = parseAmzDate(date);
    if (signedAt === undefined || now >= signedAt + Number(expires) * 1000) return "Request has expired";
    return undefined;
  }

  private signature(path: string, date: string, expires: string): string {
    return createHmac("sha256", this.secret).update(`${path}\n${date}\n${expires}`).digest("hex");
  }
}

/** `20261130T194200Z`: the signing time, to the second. */
function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

function parseAmzDate(text: string): number | undefined {
  const match = text.match(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
}
