import { computeChunkHere } from "../src/core/engine/ChunkComputer.ts";
import type { ChunkReply, ChunkRequest } from "../src/core/engine/workerPoolComputer.ts";

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = (event: MessageEvent<ChunkRequest>) => {
  const { id, task } = event.data;
  let reply: ChunkReply;
  try {
    reply = { id, bytes: computeChunkHere(task) };
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? error.message : String(error) } satisfies ChunkReply);
    return;
  }
  scope.postMessage(reply, reply.bytes.buffer instanceof ArrayBuffer ? [reply.bytes.buffer] : []);
};
