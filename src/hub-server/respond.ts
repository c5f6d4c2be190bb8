import type { ServerResponse } from "node:http";

/** An error answer: `code` goes to `X-Error-Code`, the header the Hub clients branch on. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string | undefined;

  constructor(status: number, message: string, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A redirect answer, thrown from a route like an HttpError. */
export class HttpRedirect {
  readonly status: 302 | 307;
  readonly location: string;

  constructor(status: 302 | 307, location: string) {
    this.status = status;
    this.location = location;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: error.message }, error.code ? { "X-Error-Code": error.code } : {});
}
