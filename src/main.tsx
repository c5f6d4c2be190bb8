import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./ui/App.tsx";
import "./ui/merge/exposeForTests.ts";
import { useStudioStore } from "./ui/state/studioStore.ts";
import { syncRecipeLink } from "./ui/state/syncRecipeLink.ts";
import "./ui/index.css";

const root = document.getElementById("root");
if (!root) throw new Error("Merge Studio: the page has no #root element");

useStudioStore.getState().reinspectHubModels();
syncRecipeLink();

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
