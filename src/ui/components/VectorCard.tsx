import { useEffect, useId, useState } from "react";
import type { Setting } from "../../core/recipe/MergeRecipe.ts";
import { slotOf } from "../state/modelsSlice.ts";
import { methodUsesSetting, minusSlot, plusSlot, settingProblem, type VectorDraft } from "../state/recipeDraft.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { LayerSettingEditor, type BarRange } from "./LayerSettingEditor.tsx";
import { ModelCard } from "./ModelCard.tsx";
import { inlineInputClass, secondaryButtonClass } from "./styles.ts";
import { WEIGHT_RANGE, WeightControl } from "./WeightControl.tsx";

const DENSITY_RANGE: BarRange = { min: 0, max: 1, step: 0.05 };

/** The target's num_hidden_layers, once it is inspected. */
const useTargetLayers = () =>
  useStudioStore((state) => {
    const target = slotOf(state.models, "target");
    return target.status === "ready" ? target.summary.layers : undefined;
  });

/** One vector of the recipe: its plus and minus models, its weight (one number or per layer), density and gamma where the method reads them. */
export function VectorCard({ vector, index, count }: { vector: VectorDraft; index: number; count: number }) {
  const method = useStudioStore((state) => state.method);
  const moveVector = useStudioStore((state) => state.moveVector);
  const removeVector = useStudioStore((state) => state.removeVector);
  const setVectorSetting = useStudioStore((state) => state.setVectorSetting);
  const layers = useTargetLayers();
  const [perLayer, setPerLayer] = useState(false);
  const number = index + 1;
  const only = count === 1;
  const showEditor = perLayer || typeof vector.weight !== "number";

  return (
    <section data-testid={`vector-${number}`} aria-label={`Vector ${number}`} className="flex min-w-0 flex-col gap-4 rounded-xl border border-slate-200 bg-white p-4 shadow-sm">
      <header className="flex flex-wrap items-center justify-between gap-2">
        <h3 className="font-semibold text-slate-900">
          {only ? "The vector" : `Vector ${number}`}{" "}
          <span className="font-normal text-slate-500">
            = {only ? "plus − minus" : `plus ${number} − minus ${number}`}
          </span>
        </h3>
        {!only && (
          <div className="flex gap-2">
            <button type="button" className={`${secondaryButtonClass} px-2 py-1 text-xs`} disabled={index === 0} onClick={() => moveVector(vector.id, -1)} aria-label={`Move vector ${number} up`}>
              ↑
            </button>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1 text-xs`} disabled={index === count - 1} onClick={() => moveVector(vector.id, 1)} aria-label={`Move vector ${number} down`}>
              ↓
            </button>
            <button type="button" className={`${secondaryButtonClass} px-2 py-1 text-xs`} onClick={() => removeVector(vector.id)} aria-label={`Remove vector ${number}`}>
              Remove
            </button>
          </div>
        )}
      </header>
      <div className="grid gap-4 md:grid-cols-2">
        <ModelCard slotKey={plusSlot(vector.id)} vectorNumber={number} />
        <ModelCard slotKey={minusSlot(vector.id)} vectorNumber={number} />
      </div>
      <WeightControl vector={vector} vectorNumber={number} only={only} />
      <div className="flex flex-wrap items-center gap-3">
        {typeof vector.weight === "number" && (
          <button type="button" className={`${secondaryButtonClass} px-2.5 py-1 text-xs`} aria-expanded={perLayer} onClick={() => setPerLayer(!perLayer)}>
            {perLayer ? "Hide the layer editor" : "Weight per layer…"}
          </button>
        )}
        {typeof vector.weight !== "number" && (
          <button type="button" className={`${secondaryButtonClass} px-2.5 py-1 text-xs`} onClick={() => setVectorSetting(vector.id, "weight", 1)}>
            One weight for every tensor
          </button>
        )}
      </div>
      {showEditor && (
        <LayerSettingEditor
          name="weight"
          vectorNumber={number}
          setting={vector.weight}
          numHiddenLayers={layers}
          range={WEIGHT_RANGE}
          onChange={(setting) => setVectorSetting(vector.id, "weight", setting)}
          field={`${vector.id}.weight`}
        />
      )}
      {methodUsesSetting(method, "density") && <FractionSetting vector={vector} name="density" number={number} layers={layers} />}
      {methodUsesSetting(method, "gamma") && <FractionSetting vector={vector} name="gamma" number={number} layers={layers} />}
    </section>
  );
}

const FRACTION_HELP = {
  density: "The fraction of each tensor's elements this vector keeps, in (0, 1]; empty: the recipe's default",
  gamma: "The fraction of the largest elements breadcrumbs drops as outliers, in [0, 1); empty: the recipe's default",
};

/** Density or gamma of a vector: a number (empty: the recipe's default), or per layer (density). */
function FractionSetting({ vector, name, number, layers }: { vector: VectorDraft; name: "density" | "gamma"; number: number; layers: number | undefined }) {
  const defaults = useStudioStore((state) => state.parameters[name]);
  const setVectorSetting = useStudioStore((state) => state.setVectorSetting);
  const setFieldProblem = useStudioStore((state) => state.setFieldProblem);
  const [draft, setDraft] = useState<string>();
  const id = useId();
  const setting = vector[name];
  const field = `${vector.id}.${name}`;
  // A problem of the typed text leaves with the field (when the method no longer reads it).
  useEffect(() => () => setFieldProblem(field, undefined), [field, setFieldProblem]);
  const perLayer = setting !== undefined && typeof setting !== "number";
  const problem = draft !== undefined ? checkFraction(name, draft) : setting !== undefined ? settingProblem(name, setting) : undefined;

  const typed = (text: string) => {
    setDraft(text);
    const found = checkFraction(name, text);
    setFieldProblem(field, found ? `Vector ${number} ${name}: ${found}.` : undefined);
    if (!found) setVectorSetting(vector.id, name, text.trim() === "" ? undefined : Number(text));
  };
  const change = (next: Setting) => setVectorSetting(vector.id, name, next);

  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center gap-3">
        <label htmlFor={id} className="text-sm font-medium text-slate-700 capitalize">
          {name}
        </label>
        {!perLayer && (
          <input
            id={id}
            data-testid={`${name}-input-${number}`}
            inputMode="decimal"
            spellCheck={false}
            placeholder={typeof defaults === "number" ? String(defaults) : "default"}
            value={draft ?? (setting === undefined ? "" : String(setting))}
            onChange={(event) => typed(event.target.value)}
            onBlur={() => {
              if (!checkFraction(name, draft ?? "")) setDraft(undefined);
            }}
            aria-invalid={problem !== undefined}
            aria-describedby={`${id}-help`}
            className={`${inlineInputClass} w-24 font-mono ${problem ? "border-red-400" : ""}`}
          />
        )}
        {name === "density" && (
          <button type="button" className={`${secondaryButtonClass} px-2.5 py-1 text-xs`} onClick={() => change(perLayer ? (typeof defaults === "number" ? defaults : 1) : [typeof setting === "number" ? setting : 1])}>
            {perLayer ? "One density for every tensor" : "Density per layer…"}
          </button>
        )}
      </div>
      <p id={`${id}-help`} className="text-xs text-slate-500">
        {FRACTION_HELP[name]}.
      </p>
      {problem && (
        <p role="alert" className="text-xs text-red-700">
          {problem}
        </p>
      )}
      {perLayer && (
        <LayerSettingEditor
          name={name}
          vectorNumber={number}
          setting={setting}
          numHiddenLayers={layers}
          range={DENSITY_RANGE}
          onChange={change}
          field={field}
        />
      )}
    </div>
  );
}

/** What is wrong with a typed density or gamma ("" is the default, fine). */
function checkFraction(name: "density" | "gamma", text: string): string | undefined {
  if (text.trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) return `“${text}” is not a number`;
  return settingProblem(name, value);
}
