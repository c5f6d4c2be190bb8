import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ChunkComputer } from "../engine/ChunkComputer.ts";
import { createWorkerPoolComputer, type ChunkWorkerPort } from "../engine/workerPoolComputer.ts";

/**
 * Chunk arithmetic in Node worker threads, so the main thread keeps reading, hashing and writing
 * while chunks compute. Default size: one worker per core beyond the main thread, at least one.
 */
export function createNodeWorkerPool(size = Math.max(1, availableParallelism() - 1)): ChunkComputer {
  const ports: ChunkWorkerPort[] = Array.from({ length: size }, () => {
    const worker = new Worker(workerBootstrap());
    worker.unref();
    return {
      postMessage: (request, transfer) => worker.postMessage(request, transfer),
      onMessage: (handler) => worker.on("message", handler),
      onError: (handler) => worker.on("error", handler),
      terminate: () => void worker.terminate(),
    };
  });
  return createWorkerPoolComputer(ports);
}

/**
 * The worker entry is TypeScript, and Node 20 does not apply `--import tsx` to a worker's entry file,
 * so a small script registers tsx's loader first and then imports the entry.
 */
function workerBootstrap(): URL {
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./nodeChunkWorker.ts", import.meta.url).href;
  const code = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
