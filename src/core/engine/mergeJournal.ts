import { sha256 } from "hash-wasm";
import type { ModelInfo } from "../model/inspectModel.ts";
import { describeInput } from "../output/describeInput.ts";
import { FILES_COPIED_FROM_TARGET } from "../output/renderMergedConfig.ts";
import { labelledInputs, type MergePlan } from "../plan/planMerge.ts";
import { renderRecipeJson } from "../recipe/renderRecipeJson.ts";
import { planShards } from "../safetensors/planShards.ts";
import { ResumeError, type WrittenFile } from "../sinks/FolderSink.ts";

/**
 * The journal of a merge, kept in its unfinished output folder so that an interrupted merge can be
 * resumed with the same bytes as an uninterrupted one. It records what the output depends on (the
 * identity: recipe and pinned inputs), the shards already finished with their size and SHA-256, and
 * the last checkpoint of the shard being written (its size and the SHA-256 of that prefix). It is
 * written only after the bytes it describes are durable, and replaced atomically.
 */
export interface MergeJournal {
  format: typeof JOURNAL_FORMAT;
  /** When the merge first started: merge_recipe.json's created_at, the same after a resume. */
  created_at: string;
  identity: MergeIdentity;
  finished: Record<string, WrittenFile>;
  checkpoint: ({ file: string } & WrittenFile) | null;
}

/** Everything the output bytes depend on. A resume must find it equal, field for field. */
export interface MergeIdentity {
  recipe: {
    tool_version: string;
    /** The canonical recipe (renderRecipeJson's JSON), model specs as the recipe gives them. */
    recipe: unknown;
    shard_size: number;
    shard_files: string[];
  };
  /** By the inputs' labels: target, plus, minus (or vectors[j].plus, vectors[j].minus). */
  inputs: Record<string, InputIdentity>;
}

/**
 * A Hub input is pinned by its commit sha (content-addressed). A local folder has no such id; it is
 * identified by what the merge reads of it, cheaply: every file's size, the SHA-256 of each
 * safetensors header (names, dtypes, shapes, offsets), of its last MiB of data (a re-trained
 * checkpoint saved over the old one changes every tensor, so its tail too), and of each small file
 * the merge copies or reads whole (config.json, tokenizer files). An edit confined to the middle of
 * a weight file that keeps its size is not seen: the journal names this limit, it does not hide it.
 */
export type InputIdentity =
  | { repo: string; revision: string }
  | { folder: string; files: Record<string, { size: number; header_sha256?: string; tail_sha256?: string; sha256?: string }> };

const JOURNAL_FORMAT = "merge-studio-journal/1";
const TAIL_BYTES = 2 ** 20;

/** The identity of running `plan` with these settings: what a journal records and a resume compares. */
export async function identifyMerge(plan: MergePlan, context: { shardSize: number; toolVersion: string }, signal?: AbortSignal): Promise<MergeIdentity> {
  const shardFiles = planShards(
    plan.tensors.map((tensor) => ({ ...tensor, dtype: tensor.outDtype })),
    context.shardSize,
  ).map((shard) => shard.fileName);
  const identities = new Map<ModelInfo, InputIdentity>();
  const inputs: Record<string, InputIdentity> = {};
  for (const { label, value: model } of labelledInputs(plan.models)) {
    let identity = identities.get(model);
    if (!identity) {
      identity = await identifyInput(model, model === plan.models.target, signal);
      identities.set(model, identity);
    }
    inputs[label] = identity;
  }
  return {
    recipe: {
      tool_version: context.toolVersion,
      recipe: JSON.parse(renderRecipeJson(plan.recipe)),
      shard_size: context.shardSize,
      shard_files: shardFiles,
    },
    inputs,
  };
}

async function identifyInput(model: ModelInfo, isTarget: boolean, signal?: AbortSignal): Promise<InputIdentity> {
  const { source } = model;
  if (source.repoId !== undefined && source.revision !== undefined) return { repo: source.repoId, revision: source.revision };
  const files: Extract<InputIdentity, { folder: string }>["files"] = {};
  for (const header of model.weightFiles) {
    const tailStart = Math.max(header.dataStart, header.fileSize - TAIL_BYTES);
    files[header.file] = {
      size: header.fileSize,
      header_sha256: await sha256(await source.read(header.file, 0, header.dataStart, signal)),
      tail_sha256: await sha256(await source.read(header.file, tailStart, header.fileSize - tailStart, signal)),
    };
  }
  for (const file of model.files) {
    if (file.path !== "config.json" && !(isTarget && FILES_COPIED_FROM_TARGET.has(file.path))) continue;
    files[file.path] = { size: file.size, sha256: await sha256(await source.read(file.path, 0, file.size, signal)) };
  }
  return { folder: describeInput(source).folder ?? source.label, files };
}

export function newMergeJournal(identity: MergeIdentity, createdAt: Date): MergeJournal {
  return { format: JOURNAL_FORMAT, created_at: createdAt.toISOString(), identity, finished: {}, checkpoint: null };
}

export function serializeMergeJournal(journal: MergeJournal): string {
  return `${JSON.stringify(journal, null, 1)}\n`;
}

/** Parses a journal, checking its shape; `where` names it in errors. */
export function parseMergeJournal(text: string, where: string): MergeJournal {
  const bad = (what: string) => new ResumeError(`${where} is not a merge journal this version can resume from: ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw bad(`invalid JSON (${(error as Error).message})`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  const isWritten = (x: unknown): x is WrittenFile => isObject(x) && Number.isSafeInteger(x.size) && (x.size as number) >= 0 && typeof x.sha256 === "string" && /^[0-9a-f]{64}$/.test(x.sha256);
  if (!isObject(value) || value.format !== JOURNAL_FORMAT) throw bad(`format is not "${JOURNAL_FORMAT}"`);
  if (typeof value.created_at !== "string" || Number.isNaN(Date.parse(value.created_at))) throw bad("created_at is not a date");
  if (!isObject(value.identity) || !isObject(value.identity.recipe) || !isObject(value.identity.inputs)) throw bad("identity is missing");
  if (!isObject(value.finished) || !Object.values(value.finished).every(isWritten)) throw bad("finished is not a map of files to {size, sha256}");
  const { checkpoint } = value;
  if (checkpoint !== null && !(isWritten(checkpoint) && typeof (checkpoint as { file?: unknown }).file === "string")) throw bad("checkpoint is not {file, size, sha256}");
  return value as unknown as MergeJournal;
}

/**
 * What differs between the identity a journal recorded and the current one, one line per field:
 * `recipe.recipe.vectors[0].weight: 1 in the journal, 0.5 now`. Empty when they are equal.
 */
export function identityDifferences(recorded: MergeIdentity, current: MergeIdentity): string[] {
  const was = flatten(recorded);
  const now = flatten(current);
  const differences: string[] = [];
  for (const key of new Set([...was.keys(), ...now.keys()])) {
    const [before, after] = [was.get(key), now.get(key)];
    if (before !== after) differences.push(`${key}: ${before ?? "absent"} in the journal, ${after ?? "absent"} now`);
  }
  return differences;
}

function flatten(value: unknown, path = "", into = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value) && value.length > 0) {
    value.forEach((child, index) => flatten(child, `${path}[${index}]`, into));
  } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, path === "" ? key : /^[A-Za-z_]\w*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, into);
  } else {
    into.set(path, JSON.stringify(value));
  }
  return into;
}
