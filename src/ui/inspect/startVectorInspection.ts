import type { BrowserInspectRequest, InspectWorkerCommand, InspectWorkerEvent } from "../../browser/inspectWorkerMessages.ts";
import type { VectorInspection } from "../../core/inspect/VectorInspection.ts";

/**
 * Runs the vector inspector in a dedicated worker (workers/inspectWorker.ts), passing progress and
 * Hub rate-limit events on as they come. `done` resolves with the inspection and rejects with the
 * worker's error, or an AbortError DOMException after cancel.
 */
export function startVectorInspection(
  request: BrowserInspectRequest,
  onEvent: (event: Extract<InspectWorkerEvent, { type: "progress" | "hub-status" }>) => void,
): { cancel(): void; done: Promise<VectorInspection> } {
  const worker = new Worker(new URL("../../../workers/inspectWorker.ts", import.meta.url), { type: "module" });
  let cancelled = false;
  const done = new Promise<VectorInspection>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<InspectWorkerEvent>) => {
      const message = event.data;
      if (message.type === "done" || message.type === "failed") worker.terminate();
      if (message.type === "done") {
        if (cancelled) reject(new DOMException("the inspection was cancelled", "AbortError"));
        else resolve(message.inspection);
      } else if (message.type === "failed") {
        reject(message.aborted || cancelled ? new DOMException("the inspection was cancelled", "AbortError") : new Error(message.message));
      } else if (!cancelled) onEvent(message);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`the inspection worker failed: ${event.message || "it could not be started"}`));
    };
  });
  worker.postMessage({ type: "start", request } satisfies InspectWorkerCommand);
  return {
    cancel() {
      cancelled = true;
      worker.postMessage({ type: "cancel" } satisfies InspectWorkerCommand);
    },
    done,
  };
}
