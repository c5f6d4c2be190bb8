import type { Dtype } from "../dtypes.ts";
import { readSafetensorsHeader, type SafetensorsHeader } from "../safetensors/readSafetensorsHeader.ts";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from "../safetensors/planShards.ts";
import { readTextFile, type ModelSource, type RepoFile } from "../sources/ModelSource.ts";
import { chooseChatTemplate, type ChatTemplateCandidates, type ChatTemplateSource } from "./chooseChatTemplate.ts";

/** Where one tensor's bytes lie in a model's files. */
export interface TensorLocation {
  name: string;
  file: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset in `file`. */
  offset: number;
  byteLength: number;
}

/** What a model is, from its config.json and safetensors headers alone (no weight is read). */
export interface ModelInfo {
  source: ModelSource;
  files: RepoFile[];
  config: Record<string, unknown>;
  /** Tensors in file order (index order of shards), then data order within each file. */
  tensors: Map<string, TensorLocation>;
  weightFiles: SafetensorsHeader[];
  parameterCount: number;
  weightBytes: number;
  /** The chat template (chat_template.jinja, tokenizer_config.json or chat_template.json), or null when the repo has none. */
  chatTemplate: ChatTemplateSource | null;
}

const PICKLE_WEIGHTS = /\.(bin|pt|pth|ckpt|pkl)$/i;

/** A model that cannot be read as asked; the message names the model and the file. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelError";
  }
}

/**
 * Reads config.json and every safetensors header of a model, validating the layout strictly, and
 * its chat template (small files; the compatibility report compares templates).
 */
export async function inspectModel(source: ModelSource, signal?: AbortSignal): Promise<ModelInfo> {
  const files = await source.listFiles(signal);
  const byPath = new Map(files.map((file) => [file.path, file]));
  const where = source.label;

  const configFile = byPath.get("config.json");
  if (!configFile) throw new ModelError(`${where}: config.json is missing (needed to check architecture and shapes)`);
  const config = parseJsonObject(await readTextFile(source, configFile, signal), `${where}: config.json`);

  const weightFiles = await readWeightHeaders(source, files, byPath, signal);
  const tensors = new Map<string, TensorLocation>();
  let parameterCount = 0;
  let weightBytes = 0;
  for (const header of weightFiles) {
    for (const tensor of header.tensors) {
      const previous = tensors.get(tensor.name);
      if (previous) {
        throw new ModelError(`${where}: tensor ${tensor.name} appears in both ${previous.file} and ${header.file}`);
      }
      tensors.set(tensor.name, { ...tensor, file: header.file });
      parameterCount += tensor.shape.reduce((product, dim) => product * dim, 1);
      weightBytes += tensor.byteLength;
    }
  }
  const chatTemplate = await readChatTemplate(source, byPath, signal);
  return { source, files, config, tensors, weightFiles, parameterCount, weightBytes, chatTemplate };
}

/** The chat template transformers would use, reading only the files needed to decide. */
async function readChatTemplate(source: ModelSource, byPath: Map<string, RepoFile>, signal: AbortSignal | undefined): Promise<ChatTemplateSource | null> {
  const where = source.label;
  const read = async (path: string) => {
    const file = byPath.get(path);
    return file === undefined ? undefined : readTextFile(source, file, signal);
  };
  const readJson = async (path: string) => {
    const text = await read(path);
    return text === undefined ? undefined : parseJsonObject(text, `${where}: ${path}`);
  };
  const choose = (candidates: ChatTemplateCandidates) => {
    try {
      return chooseChatTemplate(candidates);
    } catch (error) {
      throw new ModelError(`${where}: ${(error as Error).message}`);
    }
  };
  const jinja = await read("chat_template.jinja");
  if (jinja !== undefined) return choose({ jinja });
  return choose({ tokenizerConfig: await readJson("tokenizer_config.json") }) ?? choose({ chatTemplateJson: await readJson("chat_template.json") });
}

async function readWeightHeaders(
  source: ModelSource,
  files: RepoFile[],
  byPath: Map<string, RepoFile>,
  signal: AbortSignal | undefined,
): Promise<SafetensorsHeader[]> {
  const where = source.label;
  const indexFile = byPath.get(INDEX_FILE_NAME);
  if (indexFile) {
    const index = parseJsonObject(await readTextFile(source, indexFile, signal), `${where}: ${INDEX_FILE_NAME}`);
    const weightMap = index.weight_map;
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new ModelError(`${where}: ${INDEX_FILE_NAME} has no weight_map object`);
    }
    const shardNames: string[] = [];
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== "string") throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps ${tensor} to a non-string`);
      if (!byPath.has(shard)) {
        throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps tensor ${tensor} to shard ${shard}, which is missing`);
      }
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }
    shardNames.sort();
    const headers = [];
    for (const name of shardNames) headers.push(await readSafetensorsHeader(source, byPath.get(name)!, signal));
    const located = new Map<string, string>();
    for (const header of headers) for (const tensor of header.tensors) located.set(tensor.name, header.file);
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, string>)) {
      if (located.get(tensor) !== shard) {
        throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps tensor ${tensor} to ${shard}, but ${shard} does not hold it`);
      }
    }
    for (const [tensor, shard] of located) {
      if (!Object.hasOwn(weightMap, tensor)) {
        throw new ModelError(`${where}: ${shard} holds tensor ${tensor}, which ${INDEX_FILE_NAME} does not list`);
      }
    }
    return headers;
  }
  const single = byPath.get(SINGLE_FILE_NAME);
  if (single) return [await readSafetensorsHeader(source, single, signal)];
  const safetensors = files.filter((file) => file.path.endsWith(".safetensors"));
  if (safetensors.length > 0) {
    throw new ModelError(
      `${where}: found ${safetensors.map((file) => file.path).join(", ")} but neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME}`,
    );
  }
  const pickles = files.filter((file) => PICKLE_WEIGHTS.test(file.path));
  if (pickles.length > 0) {
    throw new ModelError(
      `${where}: only pickle weights (${pickles.map((file) => file.path).join(", ")}); refused, because loading a pickle can run arbitrary code. Convert the model to safetensors first.`,
    );
  }
  throw new ModelError(`${where}: no safetensors weights found`);
}

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`${where} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ModelError(`${where} is not a JSON object`);
  return value as Record<string, unknown>;
}
