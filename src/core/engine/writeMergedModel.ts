import { DTYPE_BYTES, isFloatDtype, type Dtype, type FloatDtype } from "../dtypes.ts";
import { labelledInputs, type MergePlan, type PlannedTensor } from "../plan/planMerge.ts";
import { buildSafetensorsIndex, INDEX_FILE_NAME, planShards } from "../safetensors/planShards.ts";
import { tensorByteLength, writeSafetensorsHeader } from "../safetensors/writeSafetensorsHeader.ts";
import { JOURNAL_FILE_NAME, ResumeError, type FileSink, type FolderSink, type WrittenFile } from "../sinks/FolderSink.ts";
import { renderMergedConfig, FILES_COPIED_FROM_TARGET } from "../output/renderMergedConfig.ts";
import { renderModelCard } from "../output/renderModelCard.ts";
import { renderMergeRecipe, RECIPE_FILE_NAME } from "../output/renderMergeRecipe.ts";
import { ChunkBufferPool, type ChunkBuffers } from "./ChunkBufferPool.ts";
import type { ModelSource } from "../sources/ModelSource.ts";
import type { TensorLocation } from "../model/inspectModel.ts";
import type { MagnitudeStatistics } from "../recipe/magnitudeStatistics.ts";
import { inThreadComputer, type ChunkComputer, type ChunkSegment, type ChunkTask } from "./ChunkComputer.ts";
import { computeTensorStatistics } from "./computeTensorStatistics.ts";
import type { ChunkMemory } from "./WasmChunkArena.ts";
import { identifyMerge, identityDifferences, newMergeJournal, parseMergeJournal, serializeMergeJournal, type MergeJournal } from "./mergeJournal.ts";

export interface MergeProgress {
  bytesDone: number;
  bytesTotal: number;
  tensor: string;
  tensorIndex: number;
  tensorCount: number;
  elapsedSeconds: number;
  /** Output bytes per second since the start (of this run, when resumed). */
  bytesPerSecond: number;
}

/** What a resume found in the journal, verified: reported before the merge goes on. */
export interface ResumeReport {
  /** Shards found finished, each re-hashed and equal to its recorded SHA-256. */
  verifiedFiles: string[];
  /** The shard continued from its last checkpoint, if any. */
  continuedFile?: string;
  /** Bytes of weights that need not be computed again. */
  bytesDone: number;
  bytesTotal: number;
}

export interface WriteMergedModelOptions {
  shardSize: number;
  /** Upper bound on one input chunk in bytes (default: HUB_CHUNK_BYTES if any input is a Hub repo, else LOCAL_CHUNK_BYTES). */
  chunkBytes?: number;
  /** Chunks read ahead of the one being written (default 3): overlaps I/O with arithmetic. */
  readAhead?: number;
  computer?: ChunkComputer;
  /**
   * Where chunk buffers come from, given their capacity, with the computer that works on them where
   * they lie (used unless `computer` is given). Default: a pool of ArrayBuffers and the in-thread
   * kernel. Node's CLI passes sharedChunkMemory (WasmChunkArena.ts): buffers in a shared WebAssembly
   * memory, which its sink hashes on a worker thread and the kernel computes on in place. Not in
   * browsers: fetch reads bodies only into unshared buffers.
   */
  chunkMemory?: (capacity: number) => ChunkMemory;
  signal?: AbortSignal;
  onProgress?: (progress: MergeProgress) => void;
  toolVersion: string;
  now?: () => Date;
  /**
   * Keep a journal in the output (src/core/engine/mergeJournal.ts) so that an interrupted merge can
   * be resumed: "start" begins a new one, "resume" continues the journal the sink holds (a recipe or
   * input that differs, or a file changed since it was written, is refused with a ResumeError) and
   * starts anew when it holds none. With a journal, errors and aborts keep the unfinished output
   * (`sink.keep`) instead of removing it.
   */
  journal?: "start" | "resume";
  /** Output bytes between two journal checkpoints (default CHECKPOINT_BYTES): at most this much is computed again after a crash. */
  checkpointBytes?: number;
  onResume?: (report: ResumeReport) => void;
}

export interface MergeResult {
  location: string;
  files: Record<string, WrittenFile>;
  /** Bytes of weights written by this run (a resume does not count what it found done). */
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

/** Journal checkpoints every 256 MiB of output: each flushes that much and writes a small file. */
export const CHECKPOINT_BYTES = 256 * 2 ** 20;

/**
 * Runs a merge plan: streams every tensor chunk by chunk from the target and every vector's plus and
 * minus (a tensor whose recipe sparsifies by magnitude after a statistics pass over it), computes, and
 * writes the shards, the index, config, tokenizer files, model card and recipe into `sink`, which
 * is committed only when every file is complete. On any error or abort the sink is aborted, or with
 * a journal kept for a resume.
 */
export async function writeMergedModel(plan: MergePlan, sink: FolderSink, options: WriteMergedModelOptions): Promise<MergeResult> {
  if (!plan.ok) {
    const errors = plan.issues.filter((issue) => issue.severity === "error").map((issue) => issue.message);
    throw new Error(`the models cannot be merged:\n  ${errors.join("\n  ")}`);
  }
  const started = performance.now();
  let journal: JournalKeeper | undefined;
  try {
    const files: Record<string, WrittenFile> = {};
    // The output header names each tensor with its output dtype.
    const outputTensors = plan.tensors.map((tensor) => ({ ...tensor, dtype: tensor.outDtype }));
    const shards = planShards(outputTensors, options.shardSize);
    const bytesTotal = outputTensors.reduce((sum, tensor) => sum + tensorByteLength(tensor), 0);
    const progress = { bytesDone: 0, bytesResumed: 0, bytesTotal, tensorIndex: 0, started };
    const fromHub = labelledInputs(plan.models).some(({ value: model }) => model.source.repoId !== undefined);
    const capacity = options.chunkBytes ?? (fromHub ? HUB_CHUNK_BYTES : LOCAL_CHUNK_BYTES);
    const memory = options.chunkMemory?.(capacity) ?? { buffers: new ChunkBufferPool(capacity), computer: inThreadComputer };
    const pool = memory.buffers;
    const computer = options.computer ?? memory.computer;
    let createdAt = (options.now ?? (() => new Date()))();
    let resumed: MergeJournal | undefined;
    if (options.journal) {
      const identity = await identifyMerge(plan, { shardSize: options.shardSize, toolVersion: options.toolVersion }, options.signal);
      resumed = options.journal === "resume" ? await readJournal(sink, identity) : undefined;
      const state = resumed ?? newMergeJournal(identity, createdAt);
      createdAt = new Date(state.created_at);
      journal = new JournalKeeper(sink, state);
      if (!resumed) await journal.save();
    }
    const report: ResumeReport = { verifiedFiles: [], bytesDone: 0, bytesTotal };
    let reported = !resumed;
    const reportResume = () => {
      if (reported) return;
      reported = true;
      progress.bytesResumed = report.bytesDone = progress.bytesDone;
      options.onResume?.(report);
    };
    for (const shard of shards) {
      const header = writeSafetensorsHeader(shard.tensors);
      const finished = resumed?.finished[shard.fileName];
      if (finished) {
        await sink.verifyFile(shard.fileName, finished);
        files[shard.fileName] = finished;
        advance(progress, shard.tensors, finished.size - header.byteLength);
        report.verifiedFiles.push(shard.fileName);
        continue;
      }
      const checkpoint = resumed?.checkpoint?.file === shard.fileName ? resumed.checkpoint : undefined;
      let out: FileSink;
      let from = { tensor: 0, element: 0 };
      if (checkpoint) {
        out = await sink.reopenFile(shard.fileName, checkpoint);
        from = advance(progress, shard.tensors, checkpoint.size - header.byteLength);
        report.continuedFile = shard.fileName;
      } else {
        out = await sink.createFile(shard.fileName);
        await out.write(header);
      }
      reportResume();
      await streamTensors(plan, shard.tensors.slice(from.tensor), from.element, out, pool, computer, progress, options, () => journal?.checkpoint(shard.fileName, out));
      // The last shard is not waited on to be durable: a crash before the commit redoes it from its
      // last checkpoint, and the merge does not end with a flush of everything written since.
      if (journal && shard !== shards.at(-1)) journal.finish(shard.fileName, out, (written) => (files[shard.fileName] = written));
      else files[shard.fileName] = await out.close();
    }
    reportResume();
    computer.finish?.();
    await journal?.settle();
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
    await writeText(RECIPE_FILE_NAME, renderMergeRecipe(plan, { files, shardSize: options.shardSize, toolVersion: options.toolVersion, createdAt }));
    options.signal?.throwIfAborted();
    const location = await sink.commit();
    const bytesWritten = progress.bytesDone - progress.bytesResumed;
    return { location, files, bytesWritten, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    if (options.journal) {
      await journal?.settle().catch(() => undefined);
      await sink.keep();
    } else {
      await sink.abort();
    }
    throw error;
  }
}

/** The journal in the sink, if any, checked against the merge about to run. */
async function readJournal(sink: FolderSink, identity: MergeJournal["identity"]): Promise<MergeJournal | undefined> {
  const text = await sink.readJournal();
  if (text === undefined) return undefined;
  const journal = parseMergeJournal(text, JOURNAL_FILE_NAME);
  const differences = identityDifferences(journal.identity, identity);
  if (differences.length > 0) {
    const shown = differences.slice(0, 6).join("; ");
    throw new ResumeError(`the unfinished merge was started with another recipe or other inputs: ${shown}${differences.length > 6 ? ` (and ${differences.length - 6} more)` : ""}`);
  }
  return journal;
}

/**
 * Counts `dataBytes` of a shard's tensors as done (a resume): moves the progress on and returns
 * where writing goes on, as a tensor of `tensors` and an element of it.
 */
function advance(
  progress: { bytesDone: number; tensorIndex: number },
  tensors: readonly PlannedTensor[],
  dataBytes: number,
): { tensor: number; element: number } {
  progress.bytesDone += dataBytes;
  let offset = 0;
  for (let index = 0; index < tensors.length; index++) {
    const bytes = tensorByteLength({ ...tensors[index]!, dtype: tensors[index]!.outDtype });
    if (dataBytes < offset + bytes) {
      const width = DTYPE_BYTES[tensors[index]!.outDtype];
      if ((dataBytes - offset) % width !== 0) throw new ResumeError(`the journal's checkpoint falls inside an element of ${tensors[index]!.name}`);
      return { tensor: index, element: (dataBytes - offset) / width };
    }
    offset += bytes;
    progress.tensorIndex++;
  }
  if (dataBytes !== offset) throw new ResumeError(`the journal's checkpoint lies past the end of its shard's data`);
  return { tensor: tensors.length, element: 0 };
}

/**
 * Keeps the journal of a merge up to date without holding the merge up: a checkpoint snapshots the
 * shard's size and SHA-256 at once, and the journal naming it is written once those bytes are
 * durable, in the background. Updates are written in order; one checkpoint is in flight at most.
 */
class JournalKeeper {
  private chain: Promise<void> = Promise.resolve();
  private inFlight = false;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly sink: FolderSink,
    private readonly state: MergeJournal,
  ) {}

  save(): Promise<void> {
    return this.sink.writeJournal(serializeMergeJournal(this.state));
  }

  /** A checkpoint of `file` as written so far, unless the previous one is still being written. */
  checkpoint(file: string, out: FileSink): void {
    if (this.failure) throw this.failure.error;
    if (this.inFlight) return;
    this.inFlight = true;
    const durable = out.checkpoint();
    // Awaited in turn below; this keeps an early rejection from being reported as unhandled.
    durable.catch(() => undefined);
    this.enqueue(async () => {
      const written = await durable;
      this.state.checkpoint = { file, ...written };
      await this.save();
      this.inFlight = false;
    });
  }

  /** Closes a finished shard and, once it is durable, records it and hands its size and SHA-256 to `onWritten`. */
  finish(file: string, out: FileSink, onWritten: (written: WrittenFile) => void): void {
    if (this.failure) throw this.failure.error;
    const durable = out.checkpoint();
    const closed = out.close();
    // Awaited in turn below; this keeps an early rejection from being reported as unhandled.
    for (const step of [durable, closed]) step.catch(() => undefined);
    this.enqueue(async () => {
      const written = await durable;
      await closed;
      onWritten(written);
      this.state.finished[file] = written;
      this.state.checkpoint = null;
      await this.save();
    });
  }

  /** Waits for every update; throws the first that failed. */
  async settle(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure.error;
  }

  private enqueue(update: () => Promise<void>): void {
    this.chain = this.chain.then(update).catch((error: unknown) => {
      this.failure ??= { error };
    });
  }
}

/** Where a chunk job reads one input: values of `dtype` from `offset` of `file` in `source`. */
export interface JobInput {
  source: ModelSource;
  file: string;
  offset: number;
  dtype: Dtype;
}

/** A tensor's part of a merge job: `elements` of it from its element `firstElement`. */
export interface JobSegment {
  tensor: PlannedTensor;
  firstElement: number;
  elements: number;
}

/**
 * One unit of reading and arithmetic: a run of consecutive elements, of one tensor or of several
 * adjacent ones, that lie back to back in every file the job reads and in the output.
 */
export interface ChunkJob {
  /** "merge": the target and each term's plus and minus into one; "copy": the target's, converted where outDtype differs. */
  kind: "merge" | "copy";
  elements: number;
  /** Most elements the job may hold: a chunk buffer of its widest dtype. */
  capacity: number;
  /** The target, then each term's plus and minus (merge only). */
  inputs: JobInput[];
  /** The recipe's term indices the job's tensors merge (the same for every segment of a merge job). */
  termIndices: string;
  /** Merge only: each tensor's part, in order. */
  segments: JobSegment[];
  outDtype: Dtype;
  /** The last tensor the job reaches into, and how many tensors end within it (for progress). */
  lastTensor: string;
  tensorsEnded: number;
  /** A journal checkpoint follows the job's output. */
  checkpointAfter: boolean;
}

/** Per tensor of a magnitude-sparsified recipe, its statistics, computed once, when its first job needs them. */
type StatisticsCache = Map<PlannedTensor, Promise<MagnitudeStatistics | undefined>>;

async function streamTensors(
  plan: MergePlan,
  tensors: PlannedTensor[],
  fromElement: number,
  out: FileSink,
  pool: ChunkBuffers,
  computer: ChunkComputer,
  progress: { bytesDone: number; bytesResumed: number; bytesTotal: number; tensorIndex: number; started: number },
  options: WriteMergedModelOptions,
  checkpoint: () => void,
): Promise<void> {
  const readAhead = options.readAhead ?? 3;
  // Without a journal there is nothing to checkpoint, and jobs need not end where checkpoints fall.
  const checkpointBytes = options.journal ? (options.checkpointBytes ?? CHECKPOINT_BYTES) : Infinity;
  const pending: { job: ChunkJob; result: Promise<Uint8Array> }[] = [];
  const statistics: StatisticsCache = new Map();
  const writeOldest = async () => {
    const { job, result } = pending.shift()!;
    const bytes = await result;
    await out.write(bytes);
    pool.give(bytes);
    progress.bytesDone += bytes.byteLength;
    if (job.checkpointAfter) checkpoint();
    progress.tensorIndex += job.tensorsEnded;
    for (const segment of job.segments) if (segment.firstElement + segment.elements === segment.tensor.mergedElements) statistics.delete(segment.tensor);
    const elapsedSeconds = (performance.now() - progress.started) / 1000;
    options.onProgress?.({
      bytesDone: progress.bytesDone,
      bytesTotal: progress.bytesTotal,
      tensor: job.lastTensor,
      tensorIndex: progress.tensorIndex,
      tensorCount: plan.tensors.length,
      elapsedSeconds,
      bytesPerSecond: elapsedSeconds > 0 ? (progress.bytesDone - progress.bytesResumed) / elapsedSeconds : 0,
    });
  };
  try {
    for (const job of chunkJobs(plan, tensors, fromElement, pool.capacity, checkpointBytes)) {
      options.signal?.throwIfAborted();
      const result = computeJob(plan, job, computer, pool, statistics, options.signal);
      // A rejection is handled when the job is written; this keeps it from being reported as unhandled first.
      result.catch(() => undefined);
      pending.push({ job, result });
      if (pending.length > readAhead) await writeOldest();
    }
    while (pending.length > 0) await writeOldest();
  } finally {
    pending.length = 0;
  }
}

function numel(shape: number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Where each input of `kind` for `tensor` is read, element `start` on: the target, then each term's plus and minus. */
function jobInputs(plan: MergePlan, tensor: PlannedTensor, kind: ChunkJob["kind"], start: number): JobInput[] {
  const at = (source: ModelSource, location: TensorLocation): JobInput => ({
    source,
    file: location.file,
    offset: location.offset + start * DTYPE_BYTES[location.dtype],
    dtype: location.dtype,
  });
  const target = at(plan.models.target.source, tensor.target);
  if (kind === "copy") return [target];
  return [
    target,
    ...tensor.terms.flatMap(({ plus, minus }, k) => {
      const vector = plan.models.vectors[tensor.recipe.terms[k]!.index]!;
      return [at(vector.plus.source, plus), at(vector.minus.source, minus)];
    }),
  ];
}

/**
 * Cuts `tensors`, from element `fromElement` of the first on, into chunk jobs of at most `chunkBytes`
 * per input. Elements to merge and elements to copy never share a job. Consecutive tensors share one
 * when they lie back to back, with the same dtypes, in every file the job reads, and merge the same
 * terms (the output is written in the same order): a model's many small tensors (biases, norms) then
 * cost a few large reads instead of one each, through the Hub one CDN request instead of one per
 * tensor and input. Each tensor keeps its own recipe in its segment of the job, and the arithmetic
 * depends on element indices only, so where a job starts and ends never changes a byte. A job also
 * ends where its output reaches `checkpointBytes` since the last checkpoint, and the checkpoint
 * follows it: no more than that is computed again after a crash, however large the jobs.
 */
export function* chunkJobs(plan: MergePlan, tensors: readonly PlannedTensor[], fromElement: number, chunkBytes: number, checkpointBytes: number): Generator<ChunkJob> {
  let job: ChunkJob | undefined;
  let sinceCheckpoint = 0;
  /** Ends the job being filled: the caller yields it. */
  const finish = (finished: ChunkJob): ChunkJob => {
    sinceCheckpoint += finished.elements * DTYPE_BYTES[finished.outDtype];
    finished.checkpointAfter = sinceCheckpoint >= checkpointBytes;
    if (finished.checkpointAfter) sinceCheckpoint = 0;
    return finished;
  };
  for (const [index, tensor] of tensors.entries()) {
    const total = numel(tensor.shape);
    const termIndices = tensor.recipe.terms.map((term) => term.index).join(",");
    for (const [kind, from, to] of [["merge", 0, tensor.mergedElements], ["copy", tensor.mergedElements, total]] as const) {
      for (let start = Math.max(from, index === 0 ? fromElement : 0); start < to; ) {
        const inputs = jobInputs(plan, tensor, kind, start);
        const jobTerms = kind === "merge" ? termIndices : "";
        if (job && !continuesJob(job, kind, jobTerms, inputs, tensor.outDtype)) {
          yield finish(job);
          job = undefined;
        }
        if (!job) {
          const outWidth = DTYPE_BYTES[tensor.outDtype];
          const widest = Math.max(outWidth, ...inputs.map((input) => DTYPE_BYTES[input.dtype]));
          const untilCheckpoint = Math.ceil((checkpointBytes - sinceCheckpoint) / outWidth);
          const capacity = Math.max(1, Math.min(Math.floor(chunkBytes / widest), untilCheckpoint));
          job = { kind, elements: 0, capacity, inputs, termIndices: jobTerms, segments: [], outDtype: tensor.outDtype, lastTensor: tensor.name, tensorsEnded: 0, checkpointAfter: false };
        }
        const taken = Math.min(to - start, job.capacity - job.elements);
        if (kind === "merge") {
          const last = job.segments.at(-1);
          if (last?.tensor === tensor) last.elements += taken;
          else job.segments.push({ tensor, firstElement: start, elements: taken });
        }
        job.elements += taken;
        start += taken;
        job.lastTensor = tensor.name;
        if (start === total) job.tensorsEnded++;
        if (job.elements === job.capacity) {
          yield finish(job);
          job = undefined;
        }
      }
    }
  }
  if (job) yield finish(job);
}

/** Whether `inputs` are where `job`'s inputs end, in the same sources, files and dtypes, so that the job can grow over them. */
function continuesJob(job: ChunkJob, kind: ChunkJob["kind"], termIndices: string, inputs: readonly JobInput[], outDtype: Dtype): boolean {
  if (job.kind !== kind || job.outDtype !== outDtype || job.termIndices !== termIndices || job.inputs.length !== inputs.length) return false;
  return inputs.every((input, i) => {
    const current = job.inputs[i]!;
    return (
      current.source === input.source &&
      current.file === input.file &&
      current.dtype === input.dtype &&
      current.offset + job.elements * DTYPE_BYTES[current.dtype] === input.offset
    );
  });
}

/**
 * Reads the inputs of `job` into buffers of `pool`: an input read by several roles (a mergekit
 * YAML's target is every vector's minus) is read once, and its callers share the bytes.
 */
export function jobInputReader(job: ChunkJob, pool: ChunkBuffers, signal: AbortSignal | undefined): (input: JobInput) => Promise<Uint8Array> {
  const reads = new Map<ModelSource, Map<string, Promise<Uint8Array>>>();
  return (input) => {
    const length = job.elements * DTYPE_BYTES[input.dtype];
    const key = `${input.file}\u0000${input.offset}\u0000${length}`;
    const fromSource = reads.get(input.source) ?? new Map<string, Promise<Uint8Array>>();
    reads.set(input.source, fromSource);
    let bytes = fromSource.get(key);
    if (!bytes) {
      bytes = input.source.read(input.file, input.offset, length, signal, pool.take(length));
      fromSource.set(key, bytes);
    }
    return bytes;
  };
}

async function computeJob(
  plan: MergePlan,
  job: ChunkJob,
  computer: ChunkComputer,
  pool: ChunkBuffers,
  statistics: StatisticsCache,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const read = jobInputReader(job, pool, signal);
  const into = (dtype: Dtype) => pool.take(job.elements * DTYPE_BYTES[dtype]);
  if (job.kind === "merge") {
    const segments = await Promise.all(
      job.segments.map(async ({ tensor, firstElement, elements }): Promise<ChunkSegment> => {
        let tensorStatistics = statistics.get(tensor);
        if (!tensorStatistics) {
          tensorStatistics = computeTensorStatistics(plan.models, tensor, {
            chunkElements: Math.max(1, Math.floor(pool.capacity / 4)),
            take: (length) => pool.take(length),
            give: (bytes) => pool.give(bytes),
            signal,
          });
          statistics.set(tensor, tensorStatistics);
        }
        const computed = await tensorStatistics;
        return { recipe: tensor.recipe, ...(computed ? { statistics: computed } : {}), firstElement, elements };
      }),
    );
    const bytes = await Promise.all(job.inputs.map(read));
    const chunks = job.inputs.map((input, i) => ({ dtype: input.dtype as FloatDtype, bytes: bytes[i]! }));
    const task: ChunkTask = {
      kind: "merge",
      outDtype: job.outDtype as FloatDtype,
      target: chunks[0]!,
      terms: Array.from({ length: (chunks.length - 1) / 2 }, (_, k) => ({ plus: chunks[1 + 2 * k]!, minus: chunks[2 + 2 * k]! })),
      segments,
      into: into(job.outDtype),
    };
    try {
      return await computer.compute(task);
    } finally {
      for (const input of new Set(bytes)) pool.give(input);
    }
  }
  const bytes = await read(job.inputs[0]!);
  if (job.outDtype === job.inputs[0]!.dtype || !isFloatDtype(job.inputs[0]!.dtype)) return bytes;
  try {
    const outDtype = job.outDtype as FloatDtype;
    return await computer.compute({ kind: "convert", input: { dtype: job.inputs[0]!.dtype, bytes }, outDtype, into: into(outDtype) });
  } finally {
    pool.give(bytes);
  }
}
