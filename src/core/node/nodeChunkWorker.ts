import { parentPort } from "node:worker_threads";
import { answerChunkRequest, type ChunkRequest } from "../engine/workerPoolComputer.ts";

parentPort!.on("message", (request: ChunkRequest) => {
  const { response, transfer } = answerChunkRequest(request);
  parentPort!.postMessage(response, transfer);
});
