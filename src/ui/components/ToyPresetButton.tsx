import { useStudioStore } from "../state/studioStore.ts";
import { secondaryButtonClass } from "./styles.ts";

/** Fills the toy demo: the toy trio from the demo Hub, the toy-reasoning task and the alphas -1, 0, 1. */
export function ToyPresetButton() {
  const applyToyPreset = useStudioStore((state) => state.applyToyPreset);

  return (
    <div className="flex flex-wrap items-center gap-x-4 gap-y-2">
      <button type="button" data-testid="toy-preset" className={secondaryButtonClass} onClick={applyToyPreset} aria-describedby="toy-preset-help">
        Try the toy reasoning vector
      </button>
      <p id="toy-preset-help" className="text-sm text-slate-500">
        Adds what GRPO taught a tiny model about addition (Toy-GRPO − Toy-SFT) to one trained only to reverse digits, and evaluates α = −1, 0, 1 on held-out sums.
      </p>
    </div>
  );
}
