import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { demoHubIsCurrent, writeDemoHub } from "./writeDemoHub.ts";

/**
 * Makes `root` the demo Hub of the current toy models (`toyModels`, models/toy/): kept when it is
 * current (demoHubIsCurrent), otherwise written into ROOT.partial and renamed to `root` once
 * complete, replacing a demo Hub written before the toy repos existed or from other toy weights.
 * `onWrite` hears, before writing, whether an old one is replaced. Returns what it did.
 */
export async function ensureCurrentDemoHub(root: string, toyModels: string, onWrite: (replacing: boolean) => void = () => undefined): Promise<"kept" | "written" | "rewritten"> {
  const exists = existsSync(root);
  if (exists && (await demoHubIsCurrent(root, toyModels))) return "kept";
  onWrite(exists);
  const partial = `${root}.partial`;
  await rm(partial, { recursive: true, force: true });
  await writeDemoHub(partial, toyModels);
  await rm(root, { recursive: true, force: true });
  await rename(partial, root);
  return exists ? "rewritten" : "written";
}
