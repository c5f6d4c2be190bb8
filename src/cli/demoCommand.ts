import { parseArgs } from "node:util";
import { writeDemoHub } from "../testmodels/writeDemoHub.ts";
import { UsageError } from "./format.ts";

export async function demoCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { root: { type: "string" } }, strict: true });
  if (!values.root) throw new UsageError("--root is required");
  await writeDemoHub(values.root);
  process.stderr.write(`wrote the demo repos into ${values.root}\n`);
}
