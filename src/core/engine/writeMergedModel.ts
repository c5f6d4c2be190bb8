import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../dtypes.ts";
import type { MergePlan, PlannedTensor } from "../plan/planMerge.ts";
import { buildSafetensorsIndex, INDEX_FILE_NAME, planShards } from "../safetensors/planShards.ts";
import { tensorByteLength, writeSafetensorsHeader } from "../safetensors/writeSafetensorsHeader.ts";
import type { FileSink, FolderSink, WrittenFile } from "../sinks/FolderSink.ts";
import { renderMergedConfig, FILES_COPIED_FROM_TARGET } from "../output/renderMergedConfig.ts";
import { renderModelCard } from "../output/renderModelCard.ts";
import { renderMergeRecipe, RECIPE_FILE_NAME } from "../output/renderMergeRecipe.ts";
import { ChunkBufferPool } from "./ChunkBufferPool.ts";
import { inThreadComputer, type ChunkComputer, type ChunkTask } from "./ChunkComputer.ts";

export interface MergeProgress {
  bytesDone: number;
  bytesTotal: number;
  tensor: string;
  tensorIndex: number;
  tensorCount: number;
  elapsedSeconds: number;
  /** Output bytes per second since the start. */
  bytesPerSecond: number;
}

export interface WriteMergedModelOptions {
  shardSize: number;
  /** Upper bound on one input chunk in bytes (default: HUB_CHUNK_BYTES if any input is a Hub repo, else LOCAL_CHUNK_BYTES). */
  chunkBytes?: number;
  /** Chunks read ahead of the one being written (default 3): overlaps I/O with arithmetic. */
  readAhead?: number;
  computer?: ChunkComputer;
  signal?: AbortSignal;
  onProgress?: (progress: MergeProgress) => void;
  toolVersion: string;
  now?: () => Date;
}

export interface MergeResult {
  location: string;
  files: Record<string, WrittenFile>;
  bytesWritten: number;
  seconds: number;
}

/**
 * Input chunk sizes, measured on the 0.5B bench: local files merge fastest in 2 MiB chunks (a chunk
 * is still in cache between its read and its arithmetic; 8 MiB took 30% longer), Hub reads in
 * 8 MiB chunks (fewer requests; 2 and 16 MiB were slower).
 */
export const LOCAL_CHUNK_BYTES = 2 * 2 ** 20;
export const HUB_CHUNK_BYTES = 8 * 2 ** 20;

/**
 * Runs a merge plan: streams every tensor chunk by chunk from the three sources, computes, and
 * writes the shards, the index, config, tokenizer files, model card and recipe into `sink`, which
 * is committed only when every file is complete. On any error or abort the sink is aborted.
 */
export async function writeMergedModel(plan: MergePlan, sink: FolderSink, options: WriteMergedModelOptions): Promise<MergeResult> {
  if (!plan.ok) {
    const errors = plan.issues.filter((issue) => issue.severity === "error").map((issue) => issue.message);
    throw new Error(`the models cannot be merged:\n  ${errors.join("\n  ")}`);
  }
  const started = performance.now();
  try {
    const files: Record<string, WrittenFile> = {};
    // The output header names each tensor with its output dtype.
    const outputTensors = plan.tensors.map((tensor) => ({ ...tensor, dtype: tensor.outDtype }));
    const shards = planShards(outputTensors, options.shardSize);
    const bytesTotal = outputTensors.reduce((sum, tensor) => sum + tensorByteLength(tensor), 0);
    const progress = { bytesDone: 0, bytesTotal, tensorIndex: 0, started };
    const fromHub = Object.values(plan.models).some((model) => model.source.repoId !== undefined);
    const pool = new ChunkBufferPool(options.chunkBytes ?? (fromHub ? HUB_CHUNK_BYTES : LOCAL_CHUNK_BYTES));
    for (const shard of shards) {
      const out = await sink.createFile(shard.fileName);
      await out.write(writeSafetensorsHeader(shard.tensors));
      await streamTensors(plan, shard.tensors, out, pool, progress, options);
      files[shard.fileName] = await out.close();
    }
    const writeText = async (path: string, text: string | Uint8Array) => {
      const out = await sink.createFile(path);
      await out.write(typeof text === "string" ? new TextEncoder().encode(text) : text);
      files[path] = await out.close();
    };
    if (shards.length > 1) await writeText(INDEX_FILE_NAME, buildSafetensorsIndex(shards));
    const target = plan.models.target;
    await writeText("config.json", await renderMergedConfig(plan, options.signal));
    for (const file of target.files) {
      if (FILES_COPIED_FROM_TARGET.has(file.path)) {
        await writeText(file.path, await target.source.read(file.path, 0, file.size, options.signal));
      }
    }
    await writeText("README.md", renderModelCard(plan));
    const createdAt = (options.now ?? (() => new Date()))();
    await writeText(RECIPE_FILE_NAME, renderMergeRecipe(plan, { files, shardSize: options.shardSize, toolVersion: options.toolVersion, createdAt }));
    options.signal?.throwIfAborted();
    const location = await sink.commit();
    return { location, files, bytesWritten: progress.bytesDone, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

interface ChunkJob {
  tensor: PlannedTensor;
  /** Element range of the tensor. */
  start: number;
  end: number;
}

async function streamTensors(
  plan: MergePlan,
  tensors: PlannedTensor[],
  out: FileSink,
  pool: ChunkBufferPool,
  progress: { bytesDone: number; bytesTotal: number; tensorIndex: number; started: number },
  options: WriteMergedModelOptions,
): Promise<void> {
  const computer = options.computer ?? inThreadComputer;
  const readAhead = options.readAhead ?? 3;
  const pending: { job: ChunkJob; result: Promise<Uint8Array> }[] = [];
  const writeOldest = async () => {
    const { job, result } = pending.shift()!;
    const bytes = await result;
    await out.write(bytes);
    pool.give(bytes);
    progress.bytesDone += bytes.byteLength;
    if (job.end === numel(job.tensor.shape)) progress.tensorIndex++;
    const elapsedSeconds = (performance.now() - progress.started) / 1000;
    options.onProgress?.({
      bytesDone: progress.bytesDone,
      bytesTotal: progress.bytesTotal,
      tensor: job.tensor.name,
      tensorIndex: progress.tensorIndex,
      tensorCount: plan.tensors.length,
      elapsedSeconds,
      bytesPerSecond: elapsedSeconds > 0 ? progress.bytesDone / elapsedSeconds : 0,
    });
  };
  try {
    for (const tensor of tensors) {
      for (const job of chunkJobs(tensor, pool.capacity)) {
        options.signal?.throwIfAborted();
        const result = computeJob(plan, job, computer, pool, options.signal);
        // A rejection is handled when the job is written; this keeps it from being reported as unhandled first.
        result.catch(() => undefined);
        pending.push({ job, result });
        if (pending.length > readAhead) await writeOldest();
      }
    }
    while (pending.length > 0) await writeOldest();
  } finally {
    pending.length = 0;
  }
}

function numel(shape: number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Splits a tensor into chunks that never straddle the boundary between merged and copied elements. */
function* chunkJobs(tensor: PlannedTensor, chunkBytes: number): Generator<ChunkJob> {
  const widest = Math.max(DTYPE_BYTES[tensor.target.dtype], DTYPE_BYTES[tensor.outDtype], tensor.plus ? DTYPE_BYTES[tensor.plus.dtype] : 0);
  const perChunk = Math.max(1, Math.floor(chunkBytes / widest));
  const total = numel(tensor.shape);
  for (const [from, to] of [[0, tensor.mergedElements], [tensor.mergedElements, total]] as const) {
    for (let start = from; start < to; start += perChunk) yield { tensor, start, end: Math.min(to, start + perChunk) };
  }
}

async function computeJob(
  plan: MergePlan,
  job: ChunkJob,
  computer: ChunkComputer,
  pool: ChunkBufferPool,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const { tensor, start, end } = job;
  const read = (role: "target" | "plus" | "minus") => {
    const location = tensor[role]!;
    const size = DTYPE_BYTES[location.dtype];
    const length = (end - start) * size;
    return plan.models[role].source.read(location.file, location.offset + start * size, length, signal, pool.take(length));
  };
  if (start < tensor.mergedElements) {
    const [target, plus, minus] = await Promise.all([read("target"), read("plus"), read("minus")]);
    const inputs = [target, plus, minus];
    const task: ChunkTask = {
      kind: "merge",
      methodId: plan.options.method.id,
      parameters: plan.options.parameters,
      target: { dtype: tensor.target.dtype as FloatDtype, bytes: target },
      plus: { dtype: tensor.plus!.dtype as FloatDtype, bytes: plus },
      minus: { dtype: tensor.minus!.dtype as FloatDtype, bytes: minus },
      outDtype: tensor.outDtype as FloatDtype,
      into: pool.take((end - start) * DTYPE_BYTES[tensor.outDtype]),
    };
    try {
      return await computer.compute(task);
    } finally {
      for (const input of inputs) pool.give(input);
    }
  }
  const bytes = await read("target");
  if (tensor.outDtype === tensor.target.dtype || !isFloatDtype(tensor.target.dtype)) return bytes;
  try {
    const outDtype = tensor.outDtype as FloatDtype;
    const into = pool.take((end - start) * DTYPE_BYTES[outDtype]);
    return await computer.compute({ kind: "convert", input: { dtype: tensor.target.dtype, bytes }, outDtype, into });
  } finally {
    pool.give(bytes);
  }
}
