import type { ModelSource } from "../sources/ModelSource.ts";

/** How the card and the recipe name an input: its Hub id (with revision), or its local folder. */
export interface InputDescription {
  repo?: string;
  revision?: string;
  folder?: string;
}

export function describeInput(source: ModelSource): InputDescription {
  return source.repoId ? { repo: source.repoId, revision: source.revision } : { folder: source.label };
}

/** The name the card and the mergekit YAML use: the Hub id, else the folder. */
export function inputName(source: ModelSource): string {
  return source.repoId ?? source.label;
}
