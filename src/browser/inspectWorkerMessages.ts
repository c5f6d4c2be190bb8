import type { InspectionProgress } from "../core/inspect/inspectVectors.ts";
import type { VectorInspection } from "../core/inspect/VectorInspection.ts";
import type { MergeRecipe } from "../core/recipe/MergeRecipe.ts";
import type { HubStatus } from "../core/sources/hubStatus.ts";
import type { InputSpec } from "./mergeWorkerMessages.ts";

/** What the vector inspector reads: the recipe (only its models and vocab mode matter) and each model spec's input. */
export interface BrowserInspectRequest {
  hubUrl: string;
  accessToken?: string;
  recipe: MergeRecipe;
  /** What each model spec of the recipe opens, keyed by the spec as the recipe writes it. */
  inputs: Record<string, InputSpec>;
}

/** From the page to workers/inspectWorker.ts. */
export type InspectWorkerCommand = { type: "start"; request: BrowserInspectRequest } | { type: "cancel" };

/** From workers/inspectWorker.ts to the page. */
export type InspectWorkerEvent =
  | { type: "progress"; progress: InspectionProgress }
  | { type: "hub-status"; status: HubStatus }
  | { type: "done"; inspection: VectorInspection }
  | { type: "failed"; message: string; aborted: boolean };
