import { startHubServer, type HubServerOptions } from "../hub-server/startHubServer.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";

/** What `--real-hub` turns on: huggingface.co's behaviour with its own numbers. */
const REAL_HUB: Omit<HubServerOptions, "root"> = {
  cdn: { urlTtlSeconds: 3600 },
  resolveCache: true,
  rateLimit: { quota: 3000, tokenQuota: 5000, windowSeconds: 300 },
  treePageSize: 1000,
  hideRepos: true,
  caseInsensitiveIds: true,
};

export async function hubCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      root: { type: "string" },
      port: { type: "string", default: "5181" },
      host: { type: "string", default: "127.0.0.1" },
      token: { type: "string" },
      "fail-every": { type: "string" },
      "truncate-every": { type: "string" },
      "delay-ms": { type: "string" },
      "real-hub": { type: "boolean", default: false },
      tokens: { type: "string" },
      "cdn-ttl": { type: "string" },
      "cdn-port": { type: "string" },
      "lfs-min-bytes": { type: "string" },
      "resolve-cache": { type: "boolean", default: false },
      "rate-limit": { type: "string" },
      "token-quota": { type: "string" },
      "tree-page-size": { type: "string" },
      "hide-repos": { type: "boolean", default: false },
      "case-insensitive": { type: "boolean", default: false },
    },
  });
  if (!values.root) throw new UsageError("--root is required");
  const integer = (name: string, text: string | undefined, min = 0) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === "" || !Number.isInteger(value) || value < min) {
      throw new UsageError(`--${name} must be ${min > 0 ? "a positive" : "a non-negative"} integer, got "${text}"`);
    }
    return value;
  };
  const base = values["real-hub"] ? REAL_HUB : {};
  const cdnTtl = integer("cdn-ttl", values["cdn-ttl"], 1);
  const cdnPort = integer("cdn-port", values["cdn-port"]);
  const lfsMinBytes = integer("lfs-min-bytes", values["lfs-min-bytes"]);
  const cdn =
    base.cdn || cdnTtl !== undefined || cdnPort !== undefined || lfsMinBytes !== undefined
      ? { ...base.cdn, ...(cdnTtl === undefined ? {} : { urlTtlSeconds: cdnTtl }), ...(cdnPort === undefined ? {} : { port: cdnPort }), ...(lfsMinBytes === undefined ? {} : { lfsMinBytes }) }
      : undefined;
  let rateLimit = base.rateLimit;
  if (values["rate-limit"] !== undefined) {
    const match = values["rate-limit"].match(/^(\d+)\/(\d+)$/);
    if (!match) throw new UsageError(`--rate-limit must be QUOTA/WINDOW_SECONDS, e.g. 3000/300, got "${values["rate-limit"]}"`);
    rateLimit = { quota: integer("rate-limit", match[1], 1)!, windowSeconds: integer("rate-limit", match[2], 1)! };
  }
  const tokenQuota = integer("token-quota", values["token-quota"], 1);
  if (tokenQuota !== undefined) {
    if (!rateLimit) throw new UsageError("--token-quota needs --rate-limit or --real-hub");
    rateLimit = { ...rateLimit, tokenQuota };
  }
  const server = await startHubServer({
    ...base,
    root: values.root,
    port: integer("port", values.port),
    host: values.host,
    token: values.token,
    ...(values.tokens ? { tokens: values.tokens.split(",").filter((token) => token !== "") } : {}),
    ...(cdn ? { cdn } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(values["resolve-cache"] ? { resolveCache: true } : {}),
    ...(values["hide-repos"] ? { hideRepos: true } : {}),
    ...(values["case-insensitive"] ? { caseInsensitiveIds: true } : {}),
    ...(values["tree-page-size"] === undefined ? {} : { treePageSize: integer("tree-page-size", values["tree-page-size"], 1) }),
    faults: {
      failEvery: integer("fail-every", values["fail-every"]),
      truncateEvery: integer("truncate-every", values["truncate-every"]),
      delayMs: integer("delay-ms", values["delay-ms"]),
    },
  });
  process.stdout.write(`${server.url}\n`);
  if (server.cdnUrl) process.stderr.write(`CDN origin (signed URLs): ${server.cdnUrl}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      const counts = server.requestCounts();
      process.stdout.write(
        `requests: resolver ${counts.resolver} (rate-limited ${counts.rateLimited}), cdn ${counts.cdn} (with Authorization ${counts.cdnWithAuthorization}), api ${counts.api}\n`,
      );
      void server.close().then(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
