import { useId } from "react";
import { parseAlphaList } from "../../eval/sweep/parseAlphaList.ts";
import { MAX_SWEEP_ALPHAS } from "../../eval/sweep/sweepEvalModels.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { inlineInputClass, inputClass } from "./styles.ts";

/** The sweep's alphas and the two controls of the Evaluate panel. */
export function SweepControls() {
  const alphas = useStudioStore((state) => state.evalAlphas);
  const reversed = useStudioStore((state) => state.evalReversed);
  const randomSign = useStudioStore((state) => state.evalRandomSign);
  const controlAlpha = useStudioStore((state) => state.evalControlAlpha);
  const controlSeed = useStudioStore((state) => state.evalControlSeed);
  const setEvalSettings = useStudioStore((state) => state.setEvalSettings);
  const id = useId();
  const parsed = checkAlphas(alphas);
  const error = "error" in parsed ? parsed.error : undefined;
  const count = "alphas" in parsed ? parsed.alphas.length : 0;

  return (
    <fieldset data-testid="sweep-controls" className="flex flex-col gap-3 sm:col-span-2">
      <legend className="text-sm font-medium text-slate-700">Alpha sweep</legend>
      <div className="flex flex-col gap-1.5">
        <label htmlFor={`${id}-alphas`} className="text-sm text-slate-700">
          Alphas
        </label>
        <input
          id={`${id}-alphas`}
          data-testid="sweep-alphas"
          type="text"
          placeholder="e.g. -1, 0, 0.5, 1 or -1:1.5:0.5"
          value={alphas}
          aria-invalid={error !== undefined}
          aria-describedby={`${id}-alphas-note`}
          onChange={(event) => setEvalSettings({ evalAlphas: event.target.value })}
          className={inputClass}
        />
        <p id={`${id}-alphas-note`} data-testid="sweep-alphas-note" className={`text-xs ${error ? "text-red-700" : "text-slate-500"}`}>
          {error ??
            (count === 0
              ? "Empty: the merged model of the recipe as set above. Each alpha scales the task vector (for one vector, alpha is its weight)."
              : `${count} merged ${count === 1 ? "model" : "models"}, each computed as it loads; the target runs once. At most ${MAX_SWEEP_ALPHAS}.`)}
        </p>
      </div>
      <div className="flex flex-wrap items-center gap-x-4 gap-y-2 text-sm text-slate-700">
        <label className="flex items-center gap-2">
          <input type="checkbox" data-testid="sweep-reversed" checked={reversed} onChange={(event) => setEvalSettings({ evalReversed: event.target.checked })} />
          Reversed vector (−alpha)
        </label>
        <label className="flex items-center gap-2">
          <input type="checkbox" data-testid="sweep-random-sign" checked={randomSign} onChange={(event) => setEvalSettings({ evalRandomSign: event.target.checked })} />
          Random-sign control
        </label>
        <label className="flex items-center gap-2">
          at alpha
          <input
            type="number"
            step="any"
            data-testid="sweep-control-alpha"
            value={Number.isNaN(controlAlpha) ? "" : controlAlpha}
            disabled={!reversed && !randomSign}
            onChange={(event) => setEvalSettings({ evalControlAlpha: event.target.valueAsNumber })}
            className={`${inlineInputClass} w-20`}
          />
        </label>
        <label className="flex items-center gap-2">
          seed
          <input
            type="number"
            min={0}
            data-testid="sweep-control-seed"
            value={Number.isNaN(controlSeed) ? "" : controlSeed}
            disabled={!randomSign}
            onChange={(event) => setEvalSettings({ evalControlSeed: event.target.valueAsNumber })}
            className={`${inlineInputClass} w-24`}
          />
        </label>
      </div>
      <p className="text-xs text-slate-500">
        The controls tell “this vector helps” from “any change of this size does this”: the reversed vector subtracts it, the random-sign control keeps its magnitudes with random signs.
      </p>
    </fieldset>
  );
}

/** The alphas as the run will read them, or what is wrong with them (said as the user types). */
function checkAlphas(text: string): { alphas: number[] } | { error: string } {
  try {
    return { alphas: parseAlphaList(text) };
  } catch (error) {
    return { error: `${error instanceof Error ? error.message : String(error)}.` };
  }
}
