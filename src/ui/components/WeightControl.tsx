import { useEffect, useId, useState } from "react";
import type { VectorDraft } from "../state/recipeDraft.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { inlineInputClass } from "./styles.ts";

/** The slider's range and step (the number box takes any finite value). */
export const WEIGHT_RANGE = { min: -2, max: 2, step: 0.05 };

function describeWeight(weight: number, vectorNumber: number, only: boolean): string {
  const vector = only ? "(plus − minus)" : `(plus ${vectorNumber} − minus ${vectorNumber})`;
  if (Math.fround(weight) === 0) return only ? "Target unchanged: the output is the target, bit for bit." : `Vector ${vectorNumber} left out: its weight is 0.`;
  if (weight < 0) return `Subtract the vector: merged = target − ${Math.abs(weight)} · ${vector}${only ? "" : " + …"}.`;
  return `Add the vector: merged = target + ${weight} · ${vector}${only ? "" : " + …"}.`;
}

/**
 * A vector's weight as one number: a slider over the usual range and a box for any value (with one
 * vector, today's alpha). The first vector's controls keep the test ids alpha-slider / alpha-input.
 * A weight set per layer is edited in the layer editor instead.
 */
export function WeightControl({ vector, vectorNumber, only }: { vector: VectorDraft; vectorNumber: number; only: boolean }) {
  const setVectorSetting = useStudioStore((state) => state.setVectorSetting);
  const setFieldProblem = useStudioStore((state) => state.setFieldProblem);
  const [draft, setDraft] = useState<string>();
  const id = useId();
  const field = `${vector.id}.weight`;
  // A problem of the typed text leaves with the box (when the weight becomes per layer).
  useEffect(() => () => setFieldProblem(field, undefined), [field, setFieldProblem]);
  const testId = (part: string) => (vectorNumber === 1 ? `alpha-${part}` : `weight-${part}-${vectorNumber}`);
  const weight = vector.weight;
  const label = only ? "Alpha (α)" : `Weight of vector ${vectorNumber}`;

  if (typeof weight !== "number") {
    return (
      <p className="text-sm text-slate-600">
        <span className="font-medium text-slate-700">{label}</span>: set per layer (below).
      </p>
    );
  }

  const span = WEIGHT_RANGE.max - WEIGHT_RANGE.min;
  const position = (value: number) => `${((value - WEIGHT_RANGE.min) / span) * 100}%`;
  const ticks = [WEIGHT_RANGE.min, WEIGHT_RANGE.min / 2, 0, WEIGHT_RANGE.max / 2, WEIGHT_RANGE.max];
  const draftProblem = draft !== undefined && (draft.trim() === "" || !Number.isFinite(Number(draft))) ? `“${draft}” is not a number` : undefined;

  const typed = (text: string) => {
    setDraft(text);
    const value = Number(text);
    const valid = text.trim() !== "" && Number.isFinite(value);
    setFieldProblem(field, valid ? undefined : `Vector ${vectorNumber} weight: “${text}” is not a number.`);
    if (valid) setVectorSetting(vector.id, "weight", value);
  };

  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-wrap items-end justify-between gap-x-4 gap-y-2">
        <div className="min-w-0">
          <label htmlFor={`${id}-slider`} className="text-sm font-medium text-slate-700">
            {label}
          </label>
          <p id={`${id}-help`} className="text-sm text-slate-500">
            {describeWeight(weight, vectorNumber, only)}
          </p>
        </div>
        <div className="flex flex-col items-end gap-1">
          <label htmlFor={`${id}-number`} className="sr-only">
            {label}, any value
          </label>
          <input
            id={`${id}-number`}
            data-testid={testId("input")}
            type="text"
            inputMode="decimal"
            spellCheck={false}
            value={draft ?? String(weight)}
            onChange={(event) => typed(event.target.value)}
            onBlur={() => {
              if (!draftProblem) setDraft(undefined);
            }}
            aria-invalid={draftProblem !== undefined}
            aria-describedby={`${id}-help`}
            className={`${inlineInputClass} w-28 text-right font-mono tabular-nums ${draftProblem ? "border-red-400" : ""}`}
          />
          {draftProblem && (
            <p role="alert" className="text-xs text-red-700">
              {draftProblem}
            </p>
          )}
        </div>
      </div>
      <div className="relative pb-9">
        <input
          id={`${id}-slider`}
          data-testid={testId("slider")}
          type="range"
          min={WEIGHT_RANGE.min}
          max={WEIGHT_RANGE.max}
          step={WEIGHT_RANGE.step}
          value={Math.min(WEIGHT_RANGE.max, Math.max(WEIGHT_RANGE.min, weight))}
          onChange={(event) => {
            setDraft(undefined);
            setFieldProblem(field, undefined);
            setVectorSetting(vector.id, "weight", Number(event.target.value));
          }}
          aria-describedby={`${id}-help`}
          aria-valuetext={`${weight}: ${describeWeight(weight, vectorNumber, only)}`}
          className="w-full cursor-pointer accent-indigo-600"
        />
        {ticks.map((tick) => (
          <span
            key={tick}
            aria-hidden="true"
            style={{ left: position(tick) }}
            className={`absolute top-6 text-center text-xs tabular-nums ${tick === 0 ? "font-medium text-slate-700" : "text-slate-400"} ${
              tick === WEIGHT_RANGE.min ? "" : tick === WEIGHT_RANGE.max ? "-translate-x-full" : "-translate-x-1/2"
            }`}
          >
            {tick}
            {tick === 0 && <span className="block font-normal whitespace-nowrap text-slate-500">{only ? "target unchanged" : "left out"}</span>}
          </span>
        ))}
        <span aria-hidden="true" className="absolute top-11 left-0 text-xs text-rose-600">
          ← subtract
        </span>
        <span aria-hidden="true" className="absolute top-11 right-0 text-xs text-emerald-700">
          add →
        </span>
      </div>
      {(weight < WEIGHT_RANGE.min || weight > WEIGHT_RANGE.max) && (
        <p className="text-xs text-slate-500">
          {only ? "α" : "The weight"} = {weight} lies beyond the slider's range; the merge uses it as typed.
        </p>
      )}
    </div>
  );
}
