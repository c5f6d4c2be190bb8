import type { Dtype } from "../dtypes.ts";
import { parseJsonLimited } from "../json/parseJsonLimited.ts";
import { quoteName } from "../messages/safeText.ts";
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

/** A model that cannot be read as asked; the message names the model (role and source) and the file. */
export class ModelError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ModelError";
  }
}

/** Sharded weights as transformers names them: every such file must be in the index. */
const SHARD_FILE = /^model-\d+-of-\d+\.safetensors$/;

/**
 * Reads config.json and every safetensors header of a model, validating the layout strictly, and
 * its chat template (small files; the compatibility report compares templates).
 * `role` ("target", "plus", ...) names the model in messages, before its source:
 * `plus (org/name@sha): model.safetensors: tensor "x": ...`.
 */
export async function inspectModel(source: ModelSource, signal?: AbortSignal, role?: string): Promise<ModelInfo> {
  const where = role === undefined ? source.label : `${role} (${source.label})`;
  try {
    return await inspect(source, where, signal);
  } catch (error) {
    if (error instanceof ModelError || (error instanceof Error && error.name === "AbortError")) throw error;
    // The header reader names the file, sources name themselves: either way, `where` goes first.
    const message = error instanceof Error ? error.message : String(error);
    const named = message.startsWith(`${source.label}: `) ? message.slice(source.label.length + 2) : message;
    throw new ModelError(`${where}: ${named}`, { cause: error });
  }
}

async function inspect(source: ModelSource, where: string, signal: AbortSignal | undefined): Promise<ModelInfo> {
  const files = await source.listFiles(signal);
  const byPath = new Map(files.map((file) => [file.path, file]));

  const configFile = byPath.get("config.json");
  if (!configFile) throw new ModelError(`${where}: config.json is missing (needed to check architecture and shapes)`);
  const config = parseJsonObject(await readTextFile(source, configFile, signal), `${where}: config.json`);

  const weightFiles = await readWeightHeaders(source, where, files, byPath, signal);
  const tensors = new Map<string, TensorLocation>();
  let parameterCount = 0;
  let weightBytes = 0;
  for (const header of weightFiles) {
    for (const tensor of header.tensors) {
      const previous = tensors.get(tensor.name);
      if (previous) {
        throw new ModelError(`${where}: tensor ${quoteName(tensor.name)} appears in both ${previous.file} and ${header.file}`);
      }
      tensors.set(tensor.name, { ...tensor, file: header.file });
      parameterCount += tensor.shape.reduce((product, dim) => product * dim, 1);
      weightBytes += tensor.byteLength;
    }
  }
  if (tensors.size === 0) {
    throw new ModelError(`${where}: ${weightFiles.map((header) => header.file).join(", ")} hold${weightFiles.length === 1 ? "s" : ""} no tensors: not a model's weights`);
  }
  const chatTemplate = await readChatTemplate(source, where, byPath, signal);
  return { source, files, config, tensors, weightFiles, parameterCount, weightBytes, chatTemplate };
}

/** The chat template transformers would use, reading only the files needed to decide. */
async function readChatTemplate(source: ModelSource, where: string, byPath: Map<string, RepoFile>, signal: AbortSignal | undefined): Promise<ChatTemplateSource | null> {
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
  where: string,
  files: RepoFile[],
  byPath: Map<string, RepoFile>,
  signal: AbortSignal | undefined,
): Promise<SafetensorsHeader[]> {
  const indexFile = byPath.get(INDEX_FILE_NAME);
  if (indexFile) {
    const index = parseJsonObject(await readTextFile(source, indexFile, signal), `${where}: ${INDEX_FILE_NAME}`);
    const weightMap = index.weight_map;
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new ModelError(`${where}: ${INDEX_FILE_NAME} has no weight_map object`);
    }
    const shardNames: string[] = [];
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== "string") throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps tensor ${quoteName(tensor)} to something that is not a file name`);
      if (!byPath.has(shard)) {
        throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps tensor ${quoteName(tensor)} to shard ${quoteName(shard)}, which is missing`);
      }
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }
    if (shardNames.length === 0) throw new ModelError(`${where}: ${INDEX_FILE_NAME} lists no tensors (its weight_map is empty)`);
    const unlisted = files.filter((file) => SHARD_FILE.test(file.path) && !shardNames.includes(file.path));
    if (unlisted.length > 0) {
      throw new ModelError(
        `${where}: ${unlisted.map((file) => file.path).join(", ")} ${unlisted.length === 1 ? "is" : "are"} not listed in ${INDEX_FILE_NAME}: the index is incomplete or the file does not belong here`,
      );
    }
    shardNames.sort();
    const headers = [];
    for (const name of shardNames) headers.push(await readSafetensorsHeader(source, byPath.get(name)!, signal));
    const located = new Map<string, string>();
    for (const header of headers) for (const tensor of header.tensors) located.set(tensor.name, header.file);
    for (const [tensor, shard] of Object.entries(weightMap as Record<string, string>)) {
      if (located.get(tensor) !== shard) {
        throw new ModelError(`${where}: ${INDEX_FILE_NAME} maps tensor ${quoteName(tensor)} to ${quoteName(shard)}, but that file does not hold it`);
      }
    }
    for (const [tensor, shard] of located) {
      if (!Object.hasOwn(weightMap, tensor)) {
        throw new ModelError(`${where}: ${shard} holds tensor ${quoteName(tensor)}, which ${INDEX_FILE_NAME} does not list`);
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
    value = parseJsonLimited(text);
  } catch (error) {
    throw new ModelError(`${where} is ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ModelError(`${where} is not a JSON object`);
  return value as Record<string, unknown>;
}
