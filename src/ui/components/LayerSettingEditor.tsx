import { useEffect, useId, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import type { Setting, VectorSettingName } from "../../core/recipe/MergeRecipe.ts";
import {
  describeSetting,
  layerPresets,
  layerValues,
  MODULE_KINDS,
  outerValues,
  parseSettingText,
  readLayerSetting,
  setLayerValue,
  writeLayerSetting,
  type LayerEditorModel,
  type ModuleKind,
} from "../state/layerSetting.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { inlineInputClass, inputClass, secondaryButtonClass } from "./styles.ts";

const MODULE_LABELS: Record<ModuleKind, string> = { attention: "Attention", mlp: "MLP", norms: "Norms", embeddings: "Embeddings" };

/** The range the bars span, and the step of a drag or an arrow key. */
export interface BarRange {
  min: number;
  max: number;
  step: number;
}

const snap = (value: number, range: BarRange) => {
  const clamped = Math.min(range.max, Math.max(range.min, value));
  return Number((Math.round(clamped / range.step) * range.step).toFixed(6));
};

interface LayerSettingEditorProps {
  /** Which setting this is, and of which vector (1-based), for labels and messages. */
  name: VectorSettingName;
  vectorNumber: number;
  setting: Setting;
  /** The target's num_hidden_layers; undefined before it is inspected (the editor is then disabled). */
  numHiddenLayers: number | undefined;
  range: BarRange;
  onChange: (setting: Setting) => void;
  /** The store's fieldProblems key of this setting: the text field's problem is reported there. */
  field: string;
}

/**
 * The per-layer editor of a setting: one bar per layer (drag it, or focus it and use the arrow
 * keys), presets (all, first / last k layers, gradient a → b), module filters, and the setting as
 * text (editable, mergekit's notation). The bars show layerValues, what the merge computes per layer.
 */
export function LayerSettingEditor({ name, vectorNumber, setting, numHiddenLayers, range, onChange, field }: LayerSettingEditorProps) {
  const id = useId();
  const chart = useRef<HTMLDivElement>(null);
  const setFieldProblem = useStudioStore((state) => state.setFieldProblem);
  const onProblem = (problem: string | undefined) => setFieldProblem(field, problem);
  // A problem of this editor's text leaves with it (e.g. "One weight for every tensor").
  useEffect(() => () => setFieldProblem(field, undefined), [field, setFieldProblem]);
  const [text, setText] = useState<string>();
  const [textProblem, setTextProblem] = useState<string>();
  const [typedCount, setPresetCount] = useState<string>();
  const [presetValue, setPresetValue] = useState("1");
  const [gradientFrom, setGradientFrom] = useState("0");
  const [gradientTo, setGradientTo] = useState("1");
  const model = readLayerSetting(setting);
  const modules = model?.modules ?? [];
  const layers = numHiddenLayers ?? 0;
  const presetCount = typedCount ?? String(Math.max(1, Math.floor(layers / 4)));
  const values = numHiddenLayers ? layerValues(setting, numHiddenLayers, modules) : [];
  const disabled = numHiddenLayers === undefined;
  const what = `${name} of vector ${vectorNumber}`;

  const apply = (next: LayerEditorModel) => {
    setText(undefined);
    setTextProblem(undefined);
    onProblem(undefined);
    onChange(writeLayerSetting(next));
  };
  const base: LayerEditorModel = model ?? { layers: values, modules: [], others: 0 };
  const setBar = (layer: number, value: number) => apply(setLayerValue(base, layers, layer, snap(value, range)));

  const valueAt = (event: PointerEvent<HTMLElement>) => {
    const box = chart.current!.getBoundingClientRect();
    const fraction = 1 - (event.clientY - box.top) / box.height;
    return range.min + fraction * (range.max - range.min);
  };
  const onPointer = (layer: number) => (event: PointerEvent<HTMLButtonElement>) => {
    if (event.type === "pointerdown") event.currentTarget.setPointerCapture(event.pointerId);
    else if (!event.currentTarget.hasPointerCapture(event.pointerId)) return;
    setBar(layer, valueAt(event));
  };
  const onKey = (layer: number) => (event: KeyboardEvent<HTMLButtonElement>) => {
    const moves: Record<string, number> = { ArrowUp: range.step, ArrowRight: range.step, ArrowDown: -range.step, ArrowLeft: -range.step, PageUp: 10 * range.step, PageDown: -10 * range.step };
    const move = moves[event.key];
    if (move === undefined) return;
    event.preventDefault();
    setBar(layer, values[layer]! + move);
  };

  const numberOf = (value: string) => (value.trim() === "" ? Number.NaN : Number(value));
  const count = numberOf(presetCount);
  const presetNumber = numberOf(presetValue);
  const from = numberOf(gradientFrom);
  const to = numberOf(gradientTo);
  const countValid = Number.isInteger(count) && count >= 1 && count <= layers;
  const zero = Math.min(1, Math.max(0, range.max / (range.max - range.min)));

  const typed = (value: string) => {
    setText(value);
    try {
      const parsed = parseSettingText(value, name);
      setTextProblem(undefined);
      onProblem(undefined);
      onChange(parsed);
    } catch (error) {
      const problem = (error as Error).message;
      setTextProblem(problem);
      onProblem(`Vector ${vectorNumber} ${problem.startsWith(name) ? problem : `${name}: ${problem}`}.`);
    }
  };

  return (
    <section aria-labelledby={`${id}-title`} data-testid={`layer-editor-${name}-${vectorNumber}`} className="flex min-w-0 flex-col gap-3 rounded-lg border border-slate-200 bg-slate-50/60 p-3">
      <h4 id={`${id}-title`} className="text-sm font-medium text-slate-700">
        Per layer: {what}
      </h4>
      {disabled ? (
        <p className="text-sm text-slate-500">Pick the target model first: the editor needs its number of layers.</p>
      ) : (
        <>
          <div className="flex items-stretch gap-2">
            <div aria-hidden="true" className="flex w-8 shrink-0 flex-col justify-between text-right text-[10px] text-slate-400 tabular-nums">
              <span>{range.max}</span>
              <span>{range.min}</span>
            </div>
            <div ref={chart} role="group" aria-label={`${what}, one bar per layer`} className="relative flex h-28 min-w-0 flex-1 items-stretch gap-px rounded border border-slate-200 bg-white">
              <div aria-hidden="true" className="pointer-events-none absolute inset-x-0 border-t border-slate-300" style={{ top: `${zero * 100}%` }} />
              {values.map((value, layer) => {
                const height = Math.min(1, Math.abs(value) / (range.max - range.min));
                const above = value >= 0;
                return (
                  <button
                    key={layer}
                    type="button"
                    role="slider"
                    data-testid="layer-bar"
                    aria-label={`Layer ${layer}`}
                    aria-valuemin={range.min}
                    aria-valuemax={range.max}
                    aria-valuenow={value}
                    aria-valuetext={`layer ${layer}: ${Number(value.toFixed(4))}`}
                    title={`layer ${layer}: ${Number(value.toFixed(4))}`}
                    onPointerDown={onPointer(layer)}
                    onPointerMove={onPointer(layer)}
                    onKeyDown={onKey(layer)}
                    className="group relative min-w-0 flex-1 cursor-ns-resize touch-none outline-none focus-visible:bg-indigo-50"
                  >
                    <span
                      className="absolute inset-x-px rounded-sm bg-indigo-500 group-hover:bg-indigo-600 group-focus-visible:bg-indigo-700"
                      style={above ? { bottom: `${(1 - zero) * 100}%`, height: `${height * 100}%` } : { top: `${zero * 100}%`, height: `${height * 100}%` }}
                    />
                  </button>
                );
              })}
            </div>
          </div>
          <p className="flex justify-between pl-10 text-[10px] text-slate-400">
            <span>layer 0</span>
            <span>layer {layers - 1}</span>
          </p>
          <div className="flex flex-wrap items-center gap-2 text-sm">
            <label className="flex items-center gap-1">
              <span className="text-slate-600">Value</span>
              <input aria-label="Preset value" value={presetValue} onChange={(event) => setPresetValue(event.target.value)} className={`${inlineInputClass} w-16 px-2 py-1 font-mono`} />
            </label>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1`} disabled={!Number.isFinite(presetNumber)} onClick={() => apply({ ...base, layers: layerPresets.all(presetNumber) })}>
              All layers
            </button>
            <label className="flex items-center gap-1">
              <span className="text-slate-600">k</span>
              <input aria-label="Number of layers k" value={presetCount} onChange={(event) => setPresetCount(event.target.value)} className={`${inlineInputClass} w-12 px-2 py-1 font-mono`} />
            </label>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1`} disabled={!countValid || !Number.isFinite(presetNumber)} onClick={() => apply({ ...base, layers: layerPresets.firstLayers(count, presetNumber, layers) })}>
              First k
            </button>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1`} disabled={!countValid || !Number.isFinite(presetNumber)} onClick={() => apply({ ...base, layers: layerPresets.lastLayers(count, presetNumber, layers) })}>
              Last k
            </button>
            <span className="flex items-center gap-1">
              <input aria-label="Gradient from" value={gradientFrom} onChange={(event) => setGradientFrom(event.target.value)} className={`${inlineInputClass} w-14 px-2 py-1 font-mono`} />
              <span aria-hidden="true">→</span>
              <input aria-label="Gradient to" value={gradientTo} onChange={(event) => setGradientTo(event.target.value)} className={`${inlineInputClass} w-14 px-2 py-1 font-mono`} />
            </span>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1`} disabled={!Number.isFinite(from) || !Number.isFinite(to)} onClick={() => apply({ ...base, layers: layerPresets.gradient(from, to) })}>
              Gradient
            </button>
          </div>
          {!countValid && <p className="text-xs text-red-700">k must be a whole number from 1 to {layers}.</p>}
          <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm">
            <span className="text-slate-600">Only in</span>
            {MODULE_KINDS.map((kind) => (
              <label key={kind} className="flex items-center gap-1.5">
                <input
                  type="checkbox"
                  className="size-4 accent-indigo-600"
                  checked={modules.includes(kind)}
                  onChange={(event) => apply({ ...base, modules: event.target.checked ? [...base.modules, kind] : base.modules.filter((other) => other !== kind) })}
                />
                {MODULE_LABELS[kind]}
              </label>
            ))}
            {modules.length > 0 && (
              <label className="flex items-center gap-1">
                <span className="text-slate-600">other tensors</span>
                <input
                  aria-label="Value of the other tensors"
                  defaultValue={String(base.others)}
                  key={String(base.others)}
                  onBlur={(event) => {
                    const others = numberOf(event.target.value);
                    if (Number.isFinite(others)) apply({ ...base, others });
                  }}
                  className={`${inlineInputClass} w-16 px-2 py-1 font-mono`}
                />
              </label>
            )}
          </div>
          <p className="text-xs text-slate-500">
            {outerValues(setting, layers)
              .map(({ name: tensor, value }) => `${tensor}: ${Number(value.toFixed(4))}`)
              .join(" · ")}
          </p>
        </>
      )}
      <label htmlFor={`${id}-text`} className="text-xs font-medium text-slate-600">
        As written in the recipe (mergekit's notation)
      </label>
      <input
        id={`${id}-text`}
        data-testid={`setting-text-${name}-${vectorNumber}`}
        spellCheck={false}
        value={text ?? describeSetting(setting)}
        onChange={(event) => typed(event.target.value)}
        onBlur={() => {
          if (!textProblem) setText(undefined);
        }}
        aria-invalid={textProblem !== undefined}
        className={`${inputClass} font-mono text-xs ${textProblem ? "border-red-400" : ""}`}
      />
      {textProblem && (
        <p role="alert" className="text-xs text-red-700">
          {textProblem}
        </p>
      )}
    </section>
  );
}
