import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./ui/App.tsx";
import "./ui/index.css";

const root = document.getElementById("root");
if (!root) throw new Error("Merge Studio: the page has no #root element");

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
