import type { HubStatus } from "../core/sources/hubStatus.ts";
import type { ModelSource } from "../core/sources/ModelSource.ts";
import { openFileListSource } from "../core/sources/openFileListSource.ts";
import { openHubSource } from "../core/sources/openHubSource.ts";
import type { InputSpec } from "./mergeWorkerMessages.ts";

/** Opens a picked model in a worker: a Hub repo (pinned to its commit) or the files of a local folder. */
export async function openInputSource(
  spec: InputSpec,
  hub: { hubUrl: string; accessToken?: string; onStatus?: (status: HubStatus) => void },
): Promise<ModelSource> {
  if (spec.kind === "files") return openFileListSource(spec.label, spec.files);
  const { hubUrl, accessToken, onStatus } = hub;
  return openHubSource(spec.revision ? `${spec.repo}@${spec.revision}` : spec.repo, { hubUrl, accessToken, onStatus });
}

/**
 * The opener openAndPlan takes in a worker: each model spec of the recipe opened from its InputSpec
 * in `inputs` (keyed by the recipe's spec strings); a spec without one is an error naming its role.
 */
export function recipeInputOpener(
  inputs: Readonly<Record<string, InputSpec>>,
  hub: { hubUrl: string; accessToken?: string; onStatus?: (status: HubStatus) => void },
): (spec: string, roleLabel: string) => Promise<ModelSource> {
  return async (spec, roleLabel) => {
    const input = Object.hasOwn(inputs, spec) ? inputs[spec] : undefined;
    if (!input) throw new Error(`${roleLabel}: the request gives no input for the model ${JSON.stringify(spec)}`);
    return openInputSource(input, hub);
  };
}
