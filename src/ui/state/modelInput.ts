/** A model picked for a role: a Hub repo (optionally at a revision) or a local folder's files. */
export type HubInput = { kind: "hub"; repo: string; revision?: string };
export type FolderInput = { kind: "files"; label: string; files: File[] };
export type ModelInput = HubInput | FolderInput;

export function inputTitle(input: ModelInput): string {
  if (input.kind === "files") return input.label;
  return input.revision ? `${input.repo}@${input.revision}` : input.repo;
}

/**
 * The model specs (keys of a request's inputs, as the recipe names them) of the models picked from
 * disk: a folder is known to the page by its name only (distinctModelSpecs), so that is the path an
 * exported recipe gives it; a Hub input is a repo id any machine can fetch.
 */
export function localFolderSpecs(inputs: Readonly<Record<string, ModelInput>>): string[] {
  return Object.entries(inputs).flatMap(([spec, input]) => (input.kind === "files" ? [spec] : []));
}

/** Whether two picked inputs are one model: the same pick, or the same Hub repo and revision. */
const sameModel = (a: ModelInput, b: ModelInput) => a === b || (a.kind === "hub" && b.kind === "hub" && inputTitle(a) === inputTitle(b));

/**
 * The model spec of each picked input (undefined where none is picked), in order: its Hub id or its
 * folder's name, with "name (2)", "name (3)", ... for a different folder of a name already taken.
 * Specs key the workers' inputs: one key for two folders would merge one in place of the other.
 */
export function distinctModelSpecs(inputs: readonly (ModelInput | undefined)[]): (string | undefined)[] {
  const owners = new Map<string, ModelInput>();
  return inputs.map((input) => {
    if (!input) return undefined;
    const title = inputTitle(input);
    let spec = title;
    for (let n = 2; owners.has(spec) && !sameModel(owners.get(spec)!, input); n++) spec = `${title} (${n})`;
    owners.set(spec, input);
    return spec;
  });
}
