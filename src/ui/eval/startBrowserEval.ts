import type { BrowserEvalRequest, EvalWorkerCommand, EvalWorkerEvent } from "../../browser/evalWorkerMessages.ts";

const cancelled = () => new DOMException("the evaluation was cancelled", "AbortError");

/**
 * Evaluates one model in a fresh worker (workers/evalWorker.ts, onnxruntime-web inside), passing
 * every event on as it comes, and terminates the worker when the model is done, has failed or is
 * cancelled: a WebAssembly memory never shrinks, so each model gets a worker of its own. `done`
 * resolves when the model has answered every problem and rejects with the worker's error, or an
 * AbortError DOMException after cancel.
 */
export function startBrowserEval(request: BrowserEvalRequest, onEvent: (event: EvalWorkerEvent) => void): { cancel(): void; done: Promise<void> } {
  const worker = new Worker(new URL("../../../workers/evalWorker.ts", import.meta.url), { type: "module", name: `eval ${request.model.label}` });
  let rejectDone: ((error: unknown) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    rejectDone = reject;
    worker.onmessage = (event: MessageEvent<EvalWorkerEvent>) => {
      const message = event.data;
      if (message.type === "done" || message.type === "failed") worker.terminate();
      if (message.type === "done") resolve();
      else if (message.type === "failed") reject(new Error(message.message));
      else onEvent(message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`the evaluation worker failed: ${event.message || "it could not be started"}`));
    };
  });
  worker.postMessage({ type: "start", request } satisfies EvalWorkerCommand);
  return {
    cancel() {
      worker.terminate();
      rejectDone?.(cancelled());
    },
    done,
  };
}
