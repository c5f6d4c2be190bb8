import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { secondaryButtonClass } from "./styles.ts";

/** Fills the three roles with the paper's Instruct / GRPO / SFT pattern from the current Hub. */
export function PaperPresetButton() {
  const preset = useStudioStore((state) => state.preset);
  const applyPaperPreset = useStudioStore((state) => state.applyPaperPreset);
  const searching = preset.status === "searching";

  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center gap-x-4 gap-y-2">
        <button
          type="button"
          className={secondaryButtonClass}
          onClick={() => void applyPaperPreset()}
          disabled={searching}
          aria-describedby="paper-preset-help"
        >
          {searching ? "Searching the Hub…" : "Reasoning vector (paper)"}
        </button>
        <p id="paper-preset-help" className="text-sm text-slate-500">
          Adds what GRPO training taught (GRPO − SFT) to an Instruct model with α = 1, as in{" "}
          <a href="https://arxiv.org/abs/2509.01363" target="_blank" rel="noreferrer" className="text-indigo-700 hover:underline">
            arXiv 2509.01363
          </a>
          .
        </p>
      </div>
      {preset.status === "failed" && <ErrorMessage>{preset.error}</ErrorMessage>}
    </div>
  );
}
