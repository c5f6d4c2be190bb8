import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseToyDemoManifest, TOY_DEMO_MANIFEST_FILE, type ToyDemoManifest, type ToyDemoModel } from "./toyDemoManifest.ts";

/** The command that writes models/toy/, for messages when a file there is missing (the manifest names its own). */
const TRAIN_DEMO_COMMAND = "npm run train:demo";

export interface ToyDemoModelFile {
  model: ToyDemoModel;
  /** The safetensors file's bytes, checked against the manifest's SHA-256. */
  bytes: Buffer;
}

export interface ToyDemoModels {
  manifest: ToyDemoManifest;
  files: ToyDemoModelFile[];
}

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** toy-demo.json of `folder` (models/toy/), parsed; a missing or unreadable file is an error naming it and the command that writes it. */
export async function readToyDemoManifest(folder: string): Promise<ToyDemoManifest> {
  const path = join(folder, TOY_DEMO_MANIFEST_FILE);
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${path}: ${error.code === "ENOENT" ? "missing" : `unreadable (${error.message})`}; the toy demo's models are written by \`${TRAIN_DEMO_COMMAND}\``);
  });
  return parseToyDemoManifest(text, path);
}

/**
 * The committed toy models of `folder` (models/toy/): the manifest and every model's bytes, each
 * file checked against the manifest's SHA-256 before it is used. A missing file or another SHA-256
 * is an error naming the file and the command that regenerates it.
 */
export async function readToyDemoModels(folder: string): Promise<ToyDemoModels> {
  const manifest = await readToyDemoManifest(folder);
  const files: ToyDemoModelFile[] = [];
  for (const model of manifest.models) {
    const path = join(folder, model.file);
    const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${path}: ${error.code === "ENOENT" ? "missing" : `unreadable (${error.message})`}; regenerate the toy models with \`${manifest.command}\``);
    });
    const sha256 = sha256Hex(bytes);
    if (sha256 !== model.sha256) {
      throw new Error(`${path}: its SHA-256 is ${sha256}, ${TOY_DEMO_MANIFEST_FILE} says ${model.sha256}; regenerate the toy models with \`${manifest.command}\``);
    }
    files.push({ model, bytes });
  }
  return { manifest, files };
}
