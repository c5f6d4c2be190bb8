import type { InputSpec } from "../../browser/mergeWorkerMessages.ts";

/** The folder a merge is written to and saved as: the target's name, then "-merged". */
export function mergeFolderName(target: InputSpec): string {
  const name = target.kind === "hub" ? target.repo.split("/").at(-1)! : target.label;
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[.-]+/, "");
  return `${safe || "model"}-merged`;
}
