import { DTYPE_BYTES, isFloatDtype, type FloatDtype } from "../dtypes.ts";
import { ChunkBufferPool, type ChunkBuffers } from "../engine/ChunkBufferPool.ts";
import { chunkJobs, HUB_CHUNK_BYTES, jobInputReader, LOCAL_CHUNK_BYTES, type ChunkJob, type JobInput } from "../engine/writeMergedModel.ts";
import { viewFloatBits, widenToFloat32Bits } from "../numeric/floatBlocks.ts";
import { labelledInputs, type MergePlan, type PlannedTensor } from "../plan/planMerge.ts";
import { accumulatePairs, accumulateTarget, accumulateVector, addSums, describeSums, emptySums, type ElementSums, type FloatBlock } from "./ElementSums.ts";
import { INSPECTION_DEFINITIONS, tensorCell, type InspectedCell, type InspectedTensor, type VectorInspection } from "./VectorInspection.ts";

export interface InspectionProgress {
  bytesRead: number;
  bytesTotal: number;
  /** The last tensor read into. */
  tensor: string;
  elapsedSeconds: number;
}

export interface InspectVectorsOptions {
  /** Upper bound on one read in bytes (default: HUB_CHUNK_BYTES if any input is a Hub repo, else LOCAL_CHUNK_BYTES), as a merge reads. */
  chunkBytes?: number;
  /** Chunks read ahead of the one being summed (default 3). */
  readAhead?: number;
  /** Where chunk buffers come from (default: a pool of chunkBytes buffers). */
  buffers?: ChunkBuffers;
  signal?: AbortSignal;
  onProgress?: (progress: InspectionProgress) => void;
}

/** Elements widened and summed at a time: small float32 scratch arrays that stay in cache. */
const BLOCK_ELEMENTS = 16384;

/**
 * The vector inspector: per tensor of the target, per heatmap cell and over the model, the
 * statistics of VectorInspection.ts of every raw vector v_j = fl32(plus_j - minus_j) and of every
 * pair, without merging. `plan` must be planMerge's (or openAndPlan's) of inspectionRecipe(recipe),
 * so that every inspected tensor has every vector as a term.
 *
 * It reads as a merge does (the engine's chunkJobs: consecutive tensors that lie back to back in
 * every input share a read, no read exceeds a chunk, an input several roles share is read once per
 * chunk) with `readAhead` chunks in flight, in one pass: every byte of every inspected tensor is
 * read once, and memory holds a few chunks whatever the model's size. Tensors it does not inspect
 * (only in the target, not float, a tied lm_head) are not read.
 */
export async function inspectVectors(plan: MergePlan, options: InspectVectorsOptions = {}): Promise<VectorInspection> {
  if (!plan.ok) {
    const errors = plan.issues.filter((issue) => issue.severity === "error").map((issue) => issue.message);
    throw new Error(`the models cannot be inspected: ${errors.join("; ")}`);
  }
  const vectorCount = plan.recipe.vectors.length;
  const inspected = plan.tensors.filter((tensor) => tensor.terms.length > 0);
  for (const tensor of inspected) {
    if (tensor.recipe.terms.length !== vectorCount || tensor.recipe.terms.some((term, j) => term.index !== j)) {
      throw new Error(`internal: ${tensor.name} is planned without every vector: plan the inspection with inspectionRecipe`);
    }
  }
  const started = performance.now();
  const fromHub = labelledInputs(plan.models).some(({ value: model }) => model.source.repoId !== undefined);
  const chunkBytes = options.chunkBytes ?? (fromHub ? HUB_CHUNK_BYTES : LOCAL_CHUNK_BYTES);
  const pool = options.buffers ?? new ChunkBufferPool(chunkBytes);
  const jobs = [...chunkJobs(plan, plan.tensors, 0, chunkBytes, Infinity)].filter((job) => job.kind === "merge");
  const bytesTotal = jobs.reduce((sum, job) => sum + distinctInputs(job).reduce((bytes, input) => bytes + job.elements * DTYPE_BYTES[input.dtype], 0), 0);
  const sums = new Map<PlannedTensor, ElementSums>(inspected.map((tensor) => [tensor, emptySums(vectorCount)]));
  const scratch = blockScratch(vectorCount);
  const readAhead = options.readAhead ?? 3;
  const pending: { job: ChunkJob; bytes: Promise<Uint8Array[]> }[] = [];
  let bytesRead = 0;
  const sumOldest = async () => {
    const { job, bytes } = pending.shift()!;
    const chunks = await bytes;
    try {
      options.signal?.throwIfAborted();
      sumJob(job, chunks, sums, scratch);
    } finally {
      for (const chunk of new Set(chunks)) pool.give(chunk);
    }
    bytesRead += distinctInputs(job).reduce((total, input) => total + job.elements * DTYPE_BYTES[input.dtype], 0);
    options.onProgress?.({ bytesRead, bytesTotal, tensor: job.lastTensor, elapsedSeconds: (performance.now() - started) / 1000 });
  };
  try {
    for (const job of jobs) {
      options.signal?.throwIfAborted();
      const read = jobInputReader(job, pool, options.signal);
      const bytes = Promise.all(job.inputs.map(read));
      // A rejection is handled when the job is summed; this keeps it from being reported as unhandled first.
      bytes.catch(() => undefined);
      pending.push({ job, bytes });
      if (pending.length > readAhead) await sumOldest();
    }
    while (pending.length > 0) await sumOldest();
  } finally {
    // Reads still in flight after an error give their buffers back when they land.
    for (const { bytes } of pending.splice(0)) bytes.then((chunks) => chunks.forEach((chunk) => pool.give(chunk)), () => undefined);
  }
  return describeInspection(plan, inspected, sums, vectorCount);
}

/** The inputs of a job, each (source, file, offset) once: what it reads. */
function distinctInputs(job: ChunkJob): JobInput[] {
  const seen = new Set<string>();
  const sources = new Map<unknown, number>();
  return job.inputs.filter((input) => {
    if (!sources.has(input.source)) sources.set(input.source, sources.size);
    const key = `${sources.get(input.source)}\u0000${input.file}\u0000${input.offset}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Adds a job's elements to each of its tensors' sums, block by block: the target's values, then
 * each v_j = fl32(p_j - m_j) from its widened plus and minus, then the pairs.
 */
function sumJob(job: ChunkJob, chunks: readonly Uint8Array[], sums: Map<PlannedTensor, ElementSums>, scratch: Scratch): void {
  const bits = job.inputs.map((input, i) => viewFloatBits(input.dtype as FloatDtype, chunks[i]!));
  const dtypes = job.inputs.map((input) => input.dtype as FloatDtype);
  const { plus, minus, vectors } = scratch;
  let offset = 0;
  for (const segment of job.segments) {
    const tensorSums = sums.get(segment.tensor)!;
    for (let done = 0; done < segment.elements; done += BLOCK_ELEMENTS) {
      const count = Math.min(BLOCK_ELEMENTS, segment.elements - done);
      const start = offset + done;
      accumulateTarget(tensorSums, dtypes[0]!, bits[0]!, start, count, scratch.target);
      for (const [j, v] of vectors.entries()) {
        widenToFloat32Bits(dtypes[1 + 2 * j]!, bits[1 + 2 * j]!, start, count, plus.bits);
        widenToFloat32Bits(dtypes[2 + 2 * j]!, bits[2 + 2 * j]!, start, count, minus.bits);
        accumulateVector(tensorSums, j, plus.values, minus.values, count, v);
      }
      accumulatePairs(tensorSums, vectors, count);
    }
    offset += segment.elements;
  }
}

/** Float32 scratch of one block: the target's, plus' and minus' values, and each v_j. */
interface Scratch {
  target: FloatBlock;
  plus: FloatBlock;
  minus: FloatBlock;
  vectors: FloatBlock[];
}

function blockScratch(vectorCount: number): Scratch {
  const block = (): FloatBlock => {
    const values = new Float32Array(BLOCK_ELEMENTS);
    return { values, bits: new Uint32Array(values.buffer) };
  };
  return { target: block(), plus: block(), minus: block(), vectors: Array.from({ length: vectorCount }, block) };
}

function describeInspection(plan: MergePlan, inspected: readonly PlannedTensor[], sums: Map<PlannedTensor, ElementSums>, vectorCount: number): VectorInspection {
  const tensors: InspectedTensor[] = inspected.map((tensor) => ({ name: tensor.name, shape: tensor.shape, ...tensorCell(tensor.name), ...describeSums(sums.get(tensor)!) }));
  const cells = new Map<string, { cell: Omit<InspectedCell, keyof ReturnType<typeof describeSums>>; sums: ElementSums }>();
  const total = emptySums(vectorCount);
  for (const tensor of inspected) {
    const { layer, module } = tensorCell(tensor.name);
    const key = `${layer}\u0000${module}`;
    let entry = cells.get(key);
    if (!entry) {
      entry = { cell: { layer, module, tensors: [] }, sums: emptySums(vectorCount) };
      cells.set(key, entry);
    }
    entry.cell.tensors.push(tensor.name);
    addSums(entry.sums, sums.get(tensor)!);
    addSums(total, sums.get(tensor)!);
  }
  const inspectedNames = new Set(inspected.map((tensor) => tensor.name));
  const skipped: VectorInspection["skipped"] = [];
  for (const name of plan.models.target.tensors.keys()) {
    if (inspectedNames.has(name)) continue;
    const planned = plan.tensors.find((tensor) => tensor.name === name);
    const reason = !planned
      ? "not written by a merge (the target ties it to the input embeddings)"
      : !isFloatDtype(planned.target.dtype)
        ? `not a float tensor (${planned.target.dtype})`
        : "not in every model";
    skipped.push({ name, reason });
  }
  const spec = (model: MergePlan["models"]["target"]) => model.source.label;
  return {
    format: "merge-studio-vector-inspection",
    version: 1,
    definitions: INSPECTION_DEFINITIONS,
    inputs: { target: spec(plan.models.target), vectors: plan.models.vectors.map(({ plus, minus }) => ({ plus: spec(plus), minus: spec(minus) })) },
    layers: Math.max(0, ...tensors.map((tensor) => (tensor.layer === null ? 0 : tensor.layer + 1))),
    tensors,
    cells: [...cells.values()].map(({ cell, sums: cellSums }) => ({ ...cell, ...describeSums(cellSums) })),
    total: describeSums(total),
    skipped,
  };
}
