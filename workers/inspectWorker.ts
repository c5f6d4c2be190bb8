import { inspectionRecipe } from "../src/core/inspect/inspectionRecipe.ts";
import { inspectVectors } from "../src/core/inspect/inspectVectors.ts";
import { openAndPlan } from "../src/core/plan/openAndPlan.ts";
import type { ModelSource } from "../src/core/sources/ModelSource.ts";
import type { BrowserInspectRequest, InspectWorkerCommand, InspectWorkerEvent } from "../src/browser/inspectWorkerMessages.ts";
import { recipeInputOpener } from "../src/browser/openInputSource.ts";

/** The vector inspector (src/core/inspect) off the page's thread: opens the recipe's models as a merge does and reads each byte once. */
const scope = self as unknown as DedicatedWorkerGlobalScope;
const PROGRESS_INTERVAL_MS = 100;
const post = (event: InspectWorkerEvent) => scope.postMessage(event);

let controller: AbortController | undefined;

scope.onmessage = (event: MessageEvent<InspectWorkerCommand>) => {
  const command = event.data;
  if (command.type === "cancel") controller?.abort(new DOMException("the inspection was cancelled", "AbortError"));
  else if (!controller) void run(command.request, (controller = new AbortController()).signal);
};

async function run(request: BrowserInspectRequest, signal: AbortSignal): Promise<void> {
  let sources: ModelSource[] = [];
  try {
    const opener = recipeInputOpener(request.inputs, { ...request, onStatus: (status) => post({ type: "hub-status", status }) });
    const opened = await openAndPlan(inspectionRecipe(request.recipe), opener, signal);
    sources = opened.sources;
    let lastPosted = 0;
    const inspection = await inspectVectors(opened.plan, {
      signal,
      onProgress: (progress) => {
        const now = performance.now();
        if (now - lastPosted < PROGRESS_INTERVAL_MS && progress.bytesRead < progress.bytesTotal) return;
        lastPosted = now;
        post({ type: "progress", progress });
      },
    });
    post({ type: "done", inspection });
  } catch (error) {
    post({ type: "failed", message: error instanceof Error ? error.message : String(error), aborted: signal.aborted });
  } finally {
    await Promise.all(sources.map((source) => source.close?.()));
  }
}
