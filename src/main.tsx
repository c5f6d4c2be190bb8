import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./ui/App.tsx";
import { sweepOrphanedMergesOnce } from "./ui/merge/opfsMergeOwnership.ts";
import { useStudioStore } from "./ui/state/studioStore.ts";
import { syncRecipeLink } from "./ui/state/syncRecipeLink.ts";
import "./ui/index.css";

const root = document.getElementById("root");
if (!root) throw new Error("Merge Studio: the page has no #root element");

useStudioStore.getState().reinspectHubModels();
syncRecipeLink();
// Housekeeping: merges left in the browser's storage by tabs that were closed mid-merge or before
// their merge was discarded. A failure here costs only disk space, so it is reported, not shown.
sweepOrphanedMergesOnce().catch((error: unknown) => console.warn("Merge Studio: could not remove the merges of closed tabs:", error));

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
