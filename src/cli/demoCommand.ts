import { writeDemoHub } from "../testmodels/writeDemoHub.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";

export async function demoCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({ args, options: { root: { type: "string" } } });
  if (!values.root) throw new UsageError("--root is required");
  await writeDemoHub(values.root);
  process.stderr.write(`wrote the demo repos into ${values.root}\n`);
}
