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
