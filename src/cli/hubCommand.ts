import { startHubServer } from "../hub-server/startHubServer.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";

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
    },
  });
  if (!values.root) throw new UsageError("--root is required");
  const integer = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${name} must be a non-negative integer, got "${text}"`);
    return value;
  };
  const server = await startHubServer({
    root: values.root,
    port: integer("port", values.port),
    host: values.host,
    token: values.token,
    faults: {
      failEvery: integer("fail-every", values["fail-every"]),
      truncateEvery: integer("truncate-every", values["truncate-every"]),
      delayMs: integer("delay-ms", values["delay-ms"]),
    },
  });
  process.stdout.write(`${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void server.close().then(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
