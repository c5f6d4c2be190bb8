import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readSafetensorsHeader } from "../../core/safetensors/readSafetensorsHeader.ts";
import { openFileListSource } from "../../core/sources/openFileListSource.ts";
import { qwen2Tensors, type Qwen2Shape } from "../qwen2Shape.ts";
import { parseToyDemoManifest, TOY_DEMO_MANIFEST_FILE, type ToyDemoManifest, type ToyDemoModel } from "./toyDemoManifest.ts";
import { TOY_VOCAB_SIZE } from "./toyTokenizer.ts";

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
 * file checked against the manifest's SHA-256 before it is used, and its tensors against the
 * manifest's shape (F32, the toy tokenizer's vocabulary). A missing file, another SHA-256 or
 * another shape is an error naming the file and the command that regenerates it.
 */
export async function readToyDemoModels(folder: string): Promise<ToyDemoModels> {
  const manifest = await readToyDemoManifest(folder);
  if (manifest.shape.vocabSize !== TOY_VOCAB_SIZE) {
    throw new Error(`${join(folder, TOY_DEMO_MANIFEST_FILE)}: shape.vocabSize is ${manifest.shape.vocabSize}, the toy tokenizer has ${TOY_VOCAB_SIZE} tokens; regenerate the toy models with \`${manifest.command}\``);
  }
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
    const mismatch = await shapeMismatch(model.file, bytes, manifest.shape);
    if (mismatch !== undefined) throw new Error(`${path}: ${mismatch}; regenerate the toy models with \`${manifest.command}\``);
    files.push({ model, bytes });
  }
  return { manifest, files };
}

/** How the safetensors file's tensors (read by the project's strict header reader) differ from an F32 model of `shape`, or undefined when they do not. */
async function shapeMismatch(file: string, bytes: Buffer, shape: Qwen2Shape): Promise<string | undefined> {
  const header = await readSafetensorsHeader(openFileListSource(file, [new File([new Uint8Array(bytes)], file)]), { path: file, size: bytes.length });
  const found = new Map(header.tensors.map((tensor) => [tensor.name, tensor]));
  const expected = qwen2Tensors(shape);
  for (const { name, shape: dims } of expected) {
    const tensor = found.get(name);
    if (tensor === undefined) return `tensor "${name}" is missing for ${TOY_DEMO_MANIFEST_FILE}'s shape`;
    if (tensor.dtype !== "F32" || tensor.shape.join() !== dims.join()) {
      return `tensor "${name}" is ${tensor.dtype} [${tensor.shape.join(", ")}], ${TOY_DEMO_MANIFEST_FILE}'s shape needs F32 [${dims.join(", ")}]`;
    }
  }
  const extra = header.tensors.find((tensor) => !expected.some(({ name }) => name === tensor.name));
  return extra === undefined ? undefined : `tensor "${extra.name}" is not one of a model of ${TOY_DEMO_MANIFEST_FILE}'s shape`;
}
