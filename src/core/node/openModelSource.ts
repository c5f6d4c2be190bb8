import { stat } from "node:fs/promises";
import { openFolderSource } from "./openFolderSource.ts";
import { isPathLikeModelSpec } from "../sources/isPathLikeModelSpec.ts";
import type { HubSourceOptions } from "../sources/hubClient.ts";
import type { ModelSource } from "../sources/ModelSource.ts";

/**
 * Opens a model named on the command line (Node only): an existing local folder, else a Hub repo
 * id with an optional `@revision`. `role` ("target", "plus", ...) starts every message.
 */
export async function openModelSource(spec: string, hub: HubSourceOptions, role?: string): Promise<ModelSource> {
  const prefix = role === undefined ? "" : `${role}: `;
  const info = await stat(spec).catch(() => undefined);
  if (info?.isDirectory()) return openFolderSource(spec);
  if (info) throw new Error(`${prefix}${spec} is a file; give the model's folder (the one holding config.json)`);
  if (isPathLikeModelSpec(spec)) throw new Error(`${prefix}${spec}: no such folder`);
  // Loaded only for Hub ids: the Hub client adds a third of a second to a local merge's start-up.
  const [{ openHubSource }, { nodeHttpRequest }] = await Promise.all([import("../sources/openHubSource.ts"), import("./nodeHttpRequest.ts")]);
  try {
    return await openHubSource(spec, { request: nodeHttpRequest, ...hub });
  } catch (error) {
    // "owner/name" may be a mistyped local path as much as a Hub id: say that both were tried.
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${prefix}${message} (and there is no local folder ${spec})`, { cause: error });
  }
}
