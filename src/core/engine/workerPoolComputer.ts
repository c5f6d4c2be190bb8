import type { ChunkComputer, ChunkTask } from "./ChunkComputer.ts";

/** What a pool posts to a chunk worker. */
export interface ChunkRequest {
  id: number;
  task: ChunkTask;
}

/** What a chunk worker posts back: the result of `computeChunkHere`, or why it failed. */
export type ChunkReply = { id: number; bytes: Uint8Array } | { id: number; error: string };

interface Job {
  id: number;
  task: ChunkTask;
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
}

/**
 * A ChunkComputer over `size` Web Workers, each running `computeChunkHere` (workers/chunkWorker.ts).
 * A task's buffers are transferred, not copied: after `compute` the caller's input views are
 * detached, and the result comes back in the transferred `into` buffer (or a new one), so the
 * engine's buffer pool reuses result buffers and simply drops the detached inputs.
 */
export function createWorkerPoolComputer(size: number, createWorker: () => Worker): ChunkComputer {
  if (!Number.isInteger(size) || size < 1) throw new Error(`a worker pool needs at least one worker, got ${size}`);
  const queue: Job[] = [];
  const idle: Worker[] = [];
  const running = new Map<Worker, Job>();
  let nextId = 0;
  let closedReason: Error | undefined;

  const dispatch = () => {
    while (queue.length > 0 && idle.length > 0) {
      const job = queue.shift()!;
      const worker = idle.pop()!;
      running.set(worker, job);
      const request: ChunkRequest = { id: job.id, task: job.task };
      worker.postMessage(request, transferables(job.task));
    }
  };

  const workers = Array.from({ length: size }, () => {
    const worker = createWorker();
    worker.onmessage = (event: MessageEvent<ChunkReply>) => {
      const job = running.get(worker);
      running.delete(worker);
      idle.push(worker);
      if (job && job.id === event.data.id) {
        if ("bytes" in event.data) job.resolve(event.data.bytes);
        else job.reject(new Error(event.data.error));
      }
      dispatch();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      shutDown(new Error(`a compute worker failed: ${event.message || "it could not be started"}`));
    };
    idle.push(worker);
    return worker;
  });

  function shutDown(reason: Error): void {
    closedReason ??= reason;
    for (const worker of workers) worker.terminate();
    for (const job of [...queue, ...running.values()]) job.reject(closedReason);
    queue.length = 0;
    running.clear();
  }

  return {
    compute(task) {
      if (closedReason) return Promise.reject(closedReason);
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, task, resolve, reject });
        dispatch();
      });
    },
    async close() {
      shutDown(new Error("the compute workers were closed"));
    },
  };
}

function transferables(task: ChunkTask): ArrayBuffer[] {
  const views = task.kind === "merge" ? [task.target.bytes, ...task.terms.flatMap(({ plus, minus }) => [plus.bytes, minus.bytes])] : [task.input.bytes];
  if (task.into) views.push(task.into);
  const buffers = new Set<ArrayBuffer>();
  for (const view of views) if (view.buffer instanceof ArrayBuffer) buffers.add(view.buffer);
  return [...buffers];
}
