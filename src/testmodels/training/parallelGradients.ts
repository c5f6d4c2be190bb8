import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { Qwen2Shape } from "../qwen2Shape.ts";
import {
  ANSWER_FAILED,
  CONTROL,
  REQUEST_CLOSE,
  sharedTensorLength,
  sharedTensorViews,
  STATUS_ERROR,
  type GradientRequest,
  type GradientWorkerError,
  type GradientWorkerSetup,
} from "./gradientWorker.ts";
import { packSequences, type PackedBatch } from "./packSequences.ts";
import { qwen2LossAndGradients, type LossAndGradients, type SequencesLossAndGradients } from "./qwen2Model.ts";
import { parameter, type Qwen2Parameters } from "./qwen2Parameters.ts";

export interface GradientWorkers {
  /**
   * The loss and gradients of `sequences`, as qwen2LossAndGradients of the whole batch within
   * float32 round-off: the first half (splitPackedBatch) on the calling thread, the second on the
   * worker at the same time; loss = lossA + lossB, gradients = gradA + gradB. Synchronous: the
   * calling thread blocks until the worker answers. The split depends only on the sequences, so the
   * result is the same bytes on every run and machine.
   */
  lossAndGradients: SequencesLossAndGradients;
  /** Stops the worker; resolves once its thread has exited. */
  close(): Promise<void>;
}

export interface GradientWorkerOptions {
  /** How long a step waits for the worker (its first step includes the worker's start) before it gives up with an error. */
  answerTimeoutMs?: number;
}

/**
 * The worker thread's code, CommonJS evaluated as a string: it loads gradientWorker.ts through tsx's
 * tsImport, which registers tsx's loader for that import only. A Worker's `execArgv: ["--import",
 * "tsx"]` does not load TypeScript in a worker on Node 20 (nodejs/node#47747: module hooks from a
 * worker's execArgv are ignored; tested here on 20.20), and under Vitest the calling thread has no
 * tsx at all; tsImport works under both. A failure to load or start is answered through the shared
 * control words, so the caller, blocked in Atomics.wait, sees it at once.
 */
const BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
const { setup, tsxApi, entry } = workerData;
import(tsxApi)
  .then(({ tsImport }) => tsImport(entry, entry))
  .then((worker) => worker.serveGradients(setup))
  .catch((error) => {
    setup.port.postMessage({ message: String((error && error.message) || error), stack: error && error.stack });
    const control = new Int32Array(setup.control);
    Atomics.store(control, ${CONTROL.ANSWER}, ${ANSWER_FAILED});
    Atomics.notify(control, ${CONTROL.ANSWER});
  });`;

/**
 * The batch split in two at a sequence boundary, the first half's rows as close to half of all rows
 * as any boundary allows (the earlier boundary on a tie); undefined for a batch of one sequence.
 * Each half is what packSequences makes of its sequences.
 */
export function splitPackedBatch(batch: PackedBatch): [PackedBatch, PackedBatch] | undefined {
  const { segmentStarts } = batch;
  const sequences = segmentStarts.length - 1;
  if (sequences < 2) return undefined;
  const rows = segmentStarts[sequences]!;
  let split = 1;
  for (let boundary = 2; boundary < sequences; boundary++) {
    if (Math.abs(2 * segmentStarts[boundary]! - rows) < Math.abs(2 * segmentStarts[split]! - rows)) split = boundary;
  }
  const at = segmentStarts[split]!;
  const rowsOf = (start: number, end: number): PackedBatch => ({
    ids: batch.ids.slice(start, end),
    positions: batch.positions.slice(start, end),
    targets: batch.targets.slice(start, end),
    weights: batch.weights.slice(start, end),
    segmentStarts: segmentStarts.filter((row) => row >= start && row <= end).map((row) => row - start),
  });
  return [rowsOf(0, at), rowsOf(at, rows)];
}

const describeError = (error: GradientWorkerError | undefined) => (error === undefined ? "no error message came back" : error.message);

/**
 * Starts one worker thread that computes half of every batch of a `shape` model (see
 * GradientWorkers). Parameters must be Float32Arrays; each step copies them into memory shared with
 * the worker (about 0.8 MB for the toy demo's 200k parameters). The worker does not keep the process
 * alive by itself.
 */
export function startGradientWorkers(shape: Qwen2Shape, options: GradientWorkerOptions = {}): GradientWorkers {
  const answerTimeoutMs = options.answerTimeoutMs ?? 120_000;
  const tensorBytes = sharedTensorLength(shape) * Float32Array.BYTES_PER_ELEMENT;
  const { port1: port, port2: workerPort } = new MessageChannel();
  const setup: GradientWorkerSetup = {
    shape,
    control: new SharedArrayBuffer(CONTROL.WORDS * Int32Array.BYTES_PER_ELEMENT),
    parameters: new SharedArrayBuffer(tensorBytes),
    gradients: new SharedArrayBuffer(tensorBytes),
    loss: new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT),
    port: workerPort,
  };
  const control = new Int32Array(setup.control);
  const sharedParameters = sharedTensorViews(shape, setup.parameters);
  const sharedGradients = sharedTensorViews(shape, setup.gradients);
  const workerLoss = new Float64Array(setup.loss);
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    name: "gradient worker",
    workerData: { setup, tsxApi: import.meta.resolve("tsx/esm/api"), entry: new URL("./gradientWorker.ts", import.meta.url).href },
    transferList: [workerPort],
  });
  worker.unref();
  let eventError: Error | undefined;
  worker.on("error", (error) => {
    eventError = error;
  });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  let requests = 0;
  let closed = false;
  let broken: Error | undefined;
  const readWorkerError = () => receiveMessageOnPort(port)?.message as GradientWorkerError | undefined;

  const awaitAnswer = (request: number) => {
    const deadline = performance.now() + answerTimeoutMs;
    for (;;) {
      const answer = Atomics.load(control, CONTROL.ANSWER);
      if (answer === request) return;
      if (answer === ANSWER_FAILED) {
        broken = new Error(`the gradient worker failed to start: ${describeError(readWorkerError())}`);
        throw broken;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        broken = new Error(`the gradient worker did not answer within ${answerTimeoutMs} ms${eventError === undefined ? "" : ` (${eventError.message})`}; it is stopped`);
        void worker.terminate();
        throw broken;
      }
      Atomics.wait(control, CONTROL.ANSWER, answer, left);
    }
  };

  const shareParameters = (parameters: Qwen2Parameters) => {
    for (const [name, shared] of sharedParameters) {
      const values = parameter(parameters, name);
      if (!(values instanceof Float32Array)) throw new Error(`parallel gradients take float32 parameters; ${name} is a ${values.constructor.name}`);
      if (values.length !== shared.length) throw new Error(`${name} holds ${values.length} values; the gradient workers were started for ${shared.length}`);
      shared.set(values);
    }
  };

  const lossAndGradients: SequencesLossAndGradients = (parameters, sequences) => {
    if (closed) throw new Error("the gradient workers are closed");
    if (broken !== undefined) throw new Error(`the gradient workers are unusable after an earlier failure: ${broken.message}`);
    const batch = packSequences(sequences);
    const halves = splitPackedBatch(batch);
    if (halves === undefined) return qwen2LossAndGradients(parameters, batch);
    shareParameters(parameters);
    const request = ++requests;
    port.postMessage({ batch: halves[1] } satisfies GradientRequest);
    Atomics.store(control, CONTROL.REQUEST, request);
    Atomics.notify(control, CONTROL.REQUEST);
    let own: LossAndGradients | undefined;
    let ownError: unknown;
    try {
      own = qwen2LossAndGradients(parameters, halves[0]);
    } catch (error) {
      ownError = error;
    }
    awaitAnswer(request);
    // Read the worker's error whatever happens here, so that it cannot be taken for a later request's.
    const workerError = Atomics.load(control, CONTROL.STATUS) === STATUS_ERROR ? describeError(readWorkerError()) : undefined;
    if (own === undefined) throw ownError;
    if (workerError !== undefined) throw new Error(`the gradient worker failed on sequences ${halves[0].segmentStarts.length - 1} to ${sequences.length - 1}: ${workerError}`);
    for (const [name, values] of own.gradients) {
      const addend = sharedGradients.get(name)!;
      for (let i = 0; i < values.length; i++) values[i] = values[i]! + addend[i]!;
    }
    return { loss: own.loss + workerLoss[0]!, gradients: own.gradients };
  };

  return {
    lossAndGradients,
    close: async () => {
      if (!closed) {
        closed = true;
        worker.ref();
        Atomics.store(control, CONTROL.REQUEST, REQUEST_CLOSE);
        Atomics.notify(control, CONTROL.REQUEST);
        port.close();
      }
      await exited;
    },
  };
}
