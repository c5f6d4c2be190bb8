import type { BrowserEvalRequest, EvalWorkerCommand, EvalWorkerEvent } from "../../browser/evalWorkerMessages.ts";

/**
 * Runs an evaluation in a dedicated worker (workers/evalWorker.ts, onnxruntime-web inside), passing
 * every event on as it comes. `done` resolves when all models have answered all problems and
 * rejects with the worker's error, or an AbortError DOMException after cancel.
 */
export function startBrowserEval(request: BrowserEvalRequest, onEvent: (event: EvalWorkerEvent) => void): { cancel(): void; done: Promise<void> } {
  const worker = new Worker(new URL("../../../workers/evalWorker.ts", import.meta.url), { type: "module" });
  let cancelled = false;
  const done = new Promise<void>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<EvalWorkerEvent>) => {
      const message = event.data;
      if (message.type === "done" || message.type === "failed") worker.terminate();
      if (message.type === "done") resolve();
      else if (message.type === "failed") reject(message.aborted || cancelled ? new DOMException("the evaluation was cancelled", "AbortError") : new Error(message.message));
      else if (!cancelled) onEvent(message);
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
      cancelled = true;
      worker.postMessage({ type: "cancel" } satisfies EvalWorkerCommand);
    },
    done,
  };
}
