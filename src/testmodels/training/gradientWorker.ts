import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { qwen2Tensors, type Qwen2Shape } from "../qwen2Shape.ts";
import type { PackedBatch } from "./packSequences.ts";
import { qwen2LossAndGradients } from "./qwen2Model.ts";

/**
 * The gradient worker's side of parallelGradients.ts. The two threads share an Int32Array of
 * control words: the calling thread writes a request number into REQUEST and wakes the worker;
 * the worker answers by writing the same number into ANSWER (or ANSWER_FAILED when it cannot go on)
 * and waking the caller. Parameters and gradients live in SharedArrayBuffers laid out as
 * sharedTensorViews; the loss in a shared Float64Array; the packed batch and error messages travel
 * on a MessagePort, read synchronously (receiveMessageOnPort) since neither thread runs its event
 * loop while it waits.
 */
export const CONTROL = { REQUEST: 0, ANSWER: 1, STATUS: 2, WORDS: 3 } as const;
/** The request number that asks the worker to stop. */
export const REQUEST_CLOSE = -1;
/** The answer of a worker that cannot go on (it failed to start); the port holds its error. */
export const ANSWER_FAILED = -1;
export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

export interface GradientWorkerSetup {
  shape: Qwen2Shape;
  control: SharedArrayBuffer;
  parameters: SharedArrayBuffer;
  gradients: SharedArrayBuffer;
  /** One float64: the worker's loss. */
  loss: SharedArrayBuffer;
  port: MessagePort;
}

/** What the caller posts with each request: the worker's half of the batch, packed. */
export interface GradientRequest {
  batch: PackedBatch;
}

/** What the worker posts when a request (or its start) fails. */
export interface GradientWorkerError {
  message: string;
  stack: string | undefined;
}

/** The float32 elements of all of `shape`'s tensors, laid end to end in state-dict order. */
export const sharedTensorLength = (shape: Qwen2Shape): number => qwen2Tensors(shape).reduce((sum, tensor) => sum + tensor.shape.reduce((product, dim) => product * dim, 1), 0);

/** `shape`'s tensors as Float32Array views on `buffer`, end to end in state-dict order. */
export function sharedTensorViews(shape: Qwen2Shape, buffer: SharedArrayBuffer): Map<string, Float32Array> {
  const views = new Map<string, Float32Array>();
  let offset = 0;
  for (const tensor of qwen2Tensors(shape)) {
    const length = tensor.shape.reduce((product, dim) => product * dim, 1);
    views.set(tensor.name, new Float32Array(buffer, offset * Float32Array.BYTES_PER_ELEMENT, length));
    offset += length;
  }
  return views;
}

export const workerError = (error: unknown): GradientWorkerError =>
  error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error), stack: undefined };

/**
 * The worker's loop: waits for a request, computes the loss and gradients of its batch with the
 * shared parameters, writes them into the shared gradients and loss, answers; returns when asked
 * to stop. A request that throws answers STATUS_ERROR with the error on the port, and the loop goes on.
 */
export function serveGradients(setup: GradientWorkerSetup): void {
  const { shape, port } = setup;
  const control = new Int32Array(setup.control);
  const parameters = { shape, tensors: sharedTensorViews(shape, setup.parameters) };
  const gradients = sharedTensorViews(shape, setup.gradients);
  const loss = new Float64Array(setup.loss);
  let seen = 0;
  for (;;) {
    Atomics.wait(control, CONTROL.REQUEST, seen);
    seen = Atomics.load(control, CONTROL.REQUEST);
    if (seen === REQUEST_CLOSE) break;
    let status: number = STATUS_OK;
    try {
      const received = receiveMessageOnPort(port);
      if (received === undefined) throw new Error(`request ${seen} came without its batch`);
      const result = qwen2LossAndGradients(parameters, (received.message as GradientRequest).batch);
      for (const [name, values] of result.gradients) gradients.get(name)!.set(values);
      loss[0] = result.loss;
    } catch (error) {
      status = STATUS_ERROR;
      port.postMessage(workerError(error));
    }
    Atomics.store(control, CONTROL.STATUS, status);
    Atomics.store(control, CONTROL.ANSWER, seen);
    Atomics.notify(control, CONTROL.ANSWER);
  }
  port.close();
}
