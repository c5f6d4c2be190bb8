import { fileURLToPath } from "node:url";
import { writeDemoHub } from "../testmodels/writeDemoHub.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";

/**
 * The committed toy models (models/toy/ at the project's root). Resolved against this module, as
 * evalCommand finds public/: the bundle's chunks sit in dist-cli/cli/, as deep as src/cli/.
 */
const TOY_MODELS_FOLDER = fileURLToPath(new URL("../../models/toy/", import.meta.url));

export async function demoCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({ args, options: { root: { type: "string" } } });
  if (!values.root) throw new UsageError("--root is required");
  await writeDemoHub(values.root, TOY_MODELS_FOLDER);
  process.stderr.write(`wrote the demo repos into ${values.root}\n`);
}
