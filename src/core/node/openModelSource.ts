import { stat } from "node:fs/promises";
import { nodeHttpRequest } from "./nodeHttpRequest.ts";
import { openFolderSource } from "./openFolderSource.ts";
import { openHubSource, type HubSourceOptions } from "../sources/openHubSource.ts";
import type { ModelSource } from "../sources/ModelSource.ts";

/**
 * Opens a model named on the command line (Node only): an existing local folder, else a Hub repo
 * id with an optional `@revision`.
 */
export async function openModelSource(spec: string, hub: HubSourceOptions): Promise<ModelSource> {
  const isFolder = await stat(spec).then((info) => info.isDirectory(), () => false);
  return isFolder ? openFolderSource(spec) : openHubSource(spec, { request: nodeHttpRequest, ...hub });
}
