/** A model picked for a role: a Hub repo (optionally at a revision) or a local folder's files. */
export type HubInput = { kind: "hub"; repo: string; revision?: string };
export type FolderInput = { kind: "files"; label: string; files: File[] };
export type ModelInput = HubInput | FolderInput;

export function inputTitle(input: ModelInput): string {
  if (input.kind === "files") return input.label;
  return input.revision ? `${input.repo}@${input.revision}` : input.repo;
}
