import { computeChunkHere, type ChunkComputer, type ChunkTask } from "./ChunkComputer.ts";

export interface ChunkRequest {
  id: number;
  task: ChunkTask;
}

export type ChunkResponse = { id: number; bytes: Uint8Array } | { id: number; error: string };

/** The few things the pool needs from a Web Worker or a Node worker thread. */
export interface ChunkWorkerPort {
  postMessage(request: ChunkRequest, transfer: ArrayBuffer[]): void;
  onMessage(handler: (response: ChunkResponse) => void): void;
  onError(handler: (error: Error) => void): void;
  terminate(): void;
}

/** The worker side: computes one request and names the buffers to transfer back. */
export function answerChunkRequest(request: ChunkRequest): { response: ChunkResponse; transfer: ArrayBuffer[] } {
  try {
    const bytes = computeChunkHere(request.task);
    return { response: { id: request.id, bytes }, transfer: [bytes.buffer as ArrayBuffer] };
  } catch (error) {
    return { response: { id: request.id, error: error instanceof Error ? error.message : String(error) }, transfer: [] };
  }
}

/** Input buffers that a chunk owns whole are moved to the worker instead of copied. */
function transferables(task: ChunkTask): ArrayBuffer[] {
  const chunks = task.kind === "merge" ? [task.target, task.plus, task.minus] : [task.input];
  const buffers: ArrayBuffer[] = [];
  for (const chunk of chunks) {
    const { buffer, byteOffset, byteLength } = chunk.bytes;
    if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength && !buffers.includes(buffer)) {
      buffers.push(buffer);
    }
  }
  return buffers;
}

/** Spreads chunk tasks over workers, each to the worker with the fewest tasks in flight. */
export function createWorkerPoolComputer(ports: ChunkWorkerPort[]): ChunkComputer {
  if (ports.length === 0) throw new Error("a worker pool needs at least one worker");
  const pending = new Map<number, { resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void; port: number }>();
  const load = ports.map(() => 0);
  let nextId = 0;
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure = error;
    for (const entry of pending.values()) entry.reject(error);
    pending.clear();
  };
  ports.forEach((port, index) => {
    port.onMessage((response) => {
      const entry = pending.get(response.id);
      if (!entry) return;
      pending.delete(response.id);
      load[index]!--;
      if ("error" in response) entry.reject(new Error(response.error));
      else entry.resolve(response.bytes);
    });
    port.onError((error) => failAll(new Error(`a merge worker failed: ${error.message}`)));
  });
  return {
    compute(task) {
      if (failure) return Promise.reject(failure);
      const index = load.indexOf(Math.min(...load));
      const id = nextId++;
      load[index]!++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, port: index });
        ports[index]!.postMessage({ id, task }, transferables(task));
      });
    },
    async close() {
      for (const port of ports) port.terminate();
      failAll(new Error("the worker pool was closed"));
    },
  };
}
