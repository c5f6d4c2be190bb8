import { stat } from "node:fs/promises";
import { openFolderSource } from "./openFolderSource.ts";
import type { HubSourceOptions } from "../sources/openHubSource.ts";
import type { ModelSource } from "../sources/ModelSource.ts";

/**
 * Opens a model named on the command line (Node only): an existing local folder, else a Hub repo
 * id with an optional `@revision`.
 */
export async function openModelSource(spec: string, hub: HubSourceOptions): Promise<ModelSource> {
  const isFolder = await stat(spec).then((info) => info.isDirectory(), () => false);
  if (isFolder) return openFolderSource(spec);
  // Loaded only for Hub ids: the Hub client adds a third of a second to a local merge's start-up.
  const [{ openHubSource }, { nodeHttpRequest }] = await Promise.all([import("../sources/openHubSource.ts"), import("./nodeHttpRequest.ts")]);
  return openHubSource(spec, { request: nodeHttpRequest, ...hub });
}
