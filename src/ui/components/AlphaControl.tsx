import { useId, useState } from "react";
import { useStudioStore } from "../state/studioStore.ts";
import { inputClass } from "./styles.ts";

/** The slider's range and step; the box takes any finite value. */
const ALPHA = { min: -2, max: 2, step: 0.05 };

function describeAlpha(alpha: number): string {
  if (Math.fround(alpha) === 0) return "Target unchanged: the output is the target, bit for bit.";
  if (alpha < 0) return `Subtract the vector: merged = target − ${Math.abs(alpha)} · (plus − minus).`;
  return `Add the vector: merged = target + ${alpha} · (plus − minus).`;
}

/** The scale α of the vector plus − minus: a slider over the usual range and a box for any value. */
export function AlphaControl() {
  const alpha = useStudioStore((state) => state.alpha);
  const setAlpha = useStudioStore((state) => state.setAlpha);
  const [draft, setDraft] = useState<string>();
  const id = useId();
  const span = ALPHA.max - ALPHA.min;
  const position = (value: number) => `${((value - ALPHA.min) / span) * 100}%`;
  const ticks = [ALPHA.min, ALPHA.min / 2, 0, ALPHA.max / 2, ALPHA.max];
  const draftInvalid = draft !== undefined && !Number.isFinite(Number(draft.trim() === "" ? NaN : draft));

  return (
    <div className="flex flex-col gap-3">
      <div className="flex items-end justify-between gap-4">
        <div>
          <label htmlFor={`${id}-slider`} className="text-sm font-medium text-slate-700">
            Alpha (α)
          </label>
          <p id={`${id}-help`} className="text-sm text-slate-500">
            {describeAlpha(alpha)}
          </p>
        </div>
        <div className="flex items-center gap-2">
          <label htmlFor={`${id}-number`} className="sr-only">
            Alpha, any value
          </label>
          <input
            id={`${id}-number`}
            data-testid="alpha-input"
            type="number"
            step="any"
            inputMode="decimal"
            value={draft ?? String(alpha)}
            onChange={(event) => {
              setDraft(event.target.value);
              const value = Number(event.target.value);
              if (event.target.value.trim() !== "" && Number.isFinite(value)) setAlpha(value);
            }}
            onBlur={() => setDraft(undefined)}
            aria-invalid={draftInvalid}
            aria-describedby={`${id}-help`}
            className={`${inputClass} w-28 text-right font-mono tabular-nums ${draftInvalid ? "border-red-400" : ""}`}
          />
        </div>
      </div>
      <div className="relative pb-9">
        <input
          id={`${id}-slider`}
          data-testid="alpha-slider"
          type="range"
          min={ALPHA.min}
          max={ALPHA.max}
          step={ALPHA.step}
          value={Math.min(ALPHA.max, Math.max(ALPHA.min, alpha))}
          onChange={(event) => {
            setDraft(undefined);
            setAlpha(Number(event.target.value));
          }}
          aria-describedby={`${id}-help`}
          aria-valuetext={`${alpha}: ${describeAlpha(alpha)}`}
          className="w-full cursor-pointer accent-indigo-600"
        />
        {ticks.map((tick) => (
          <span
            key={tick}
            aria-hidden="true"
            style={{ left: position(tick) }}
            className={`absolute top-6 text-center text-xs tabular-nums ${tick === 0 ? "font-medium text-slate-700" : "text-slate-400"} ${
              tick === ALPHA.min ? "" : tick === ALPHA.max ? "-translate-x-full" : "-translate-x-1/2"
            }`}
          >
            {tick}
            {tick === 0 && <span className="block font-normal whitespace-nowrap text-slate-500">target unchanged</span>}
          </span>
        ))}
        <span aria-hidden="true" className="absolute top-11 left-0 text-xs text-rose-600">
          ← subtract the vector
        </span>
        <span aria-hidden="true" className="absolute top-11 right-0 text-xs text-emerald-700">
          add the vector →
        </span>
      </div>
      {(alpha < ALPHA.min || alpha > ALPHA.max) && (
        <p className="text-xs text-slate-500">α = {alpha} lies beyond the slider's range; the merge uses it as typed.</p>
      )}
    </div>
  );
}
