import { useId, useState } from "react";
import { METHOD_STEPS, RECIPE_METHODS, type RecipeMethodId } from "../../core/recipe/TensorRecipe.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { inlineInputClass } from "./styles.ts";

/** Each method in one line (mergekit's names and meanings, recipe-v2.md). */
export const METHOD_EXPLANATIONS: Record<RecipeMethodId, string> = {
  task_arithmetic: "Adds each weighted vector to the target: target + Σ w·(plus − minus).",
  ties: "Keeps each vector's largest-magnitude fraction (density), elects one sign per element, adds the vectors that agree.",
  dare_linear: "Keeps a random fraction (density) of each vector, rescaled by 1/density, and adds them.",
  dare_ties: "DARE's random keep, then TIES' sign election: only the vectors that agree are added.",
  breadcrumbs: "Drops each vector's largest outliers (gamma) and its smallest elements, keeping a density fraction.",
  breadcrumbs_ties: "Breadcrumbs' outlier and small-element drop, then TIES' sign election.",
};

const MAX_SEED = 0xffffffff;

/** The recipe's method, with normalize / rescale / seed where the method reads them, and the random-sign control. */
export function MethodPicker() {
  const method = useStudioStore((state) => state.method);
  const parameters = useStudioStore((state) => state.parameters);
  const control = useStudioStore((state) => state.control);
  const setMethod = useStudioStore((state) => state.setMethod);
  const setParameters = useStudioStore((state) => state.setParameters);
  const setControl = useStudioStore((state) => state.setControl);
  const id = useId();
  const { sparsification } = METHOD_STEPS[method];

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-col gap-1.5">
        <label htmlFor={`${id}-method`} className="text-sm font-medium text-slate-700">
          Method
        </label>
        <select id={`${id}-method`} data-testid="method-select" value={method} onChange={(event) => setMethod(event.target.value as RecipeMethodId)} className={`${inlineInputClass} sm:w-72`}>
          {RECIPE_METHODS.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <p data-testid="method-explanation" className="text-sm text-slate-500">
          {METHOD_EXPLANATIONS[method]}
        </p>
      </div>
      <div className="flex flex-wrap items-center gap-x-6 gap-y-3 text-sm">
        <label className="flex items-center gap-2" title="Divide the sum by the sum of the weights that were added">
          <input type="checkbox" className="size-4 accent-indigo-600" checked={parameters.normalize} onChange={(event) => setParameters({ normalize: event.target.checked })} />
          Normalize by the weights
        </label>
        {sparsification === "random" && (
          <>
            <label className="flex items-center gap-2">
              <input type="checkbox" className="size-4 accent-indigo-600" checked={parameters.rescale} onChange={(event) => setParameters({ rescale: event.target.checked })} />
              Rescale kept values by 1/density
            </label>
            <SeedField label="Seed (random keep)" testId="seed-input" value={parameters.seed} onChange={(seed) => setParameters({ seed })} />
          </>
        )}
      </div>
      <div className="flex flex-wrap items-center gap-x-6 gap-y-3 text-sm">
        <label className="flex items-center gap-2">
          <input
            type="checkbox"
            data-testid="control-toggle"
            className="size-4 accent-indigo-600"
            checked={control !== undefined}
            onChange={(event) => setControl(event.target.checked ? { kind: "random_sign", seed: 0 } : undefined)}
          />
          <span>
            <span className="font-medium text-slate-800">Random-sign control</span>
            <span className="block text-slate-500">Every element of every vector keeps its size and gets a random sign: a norm-matched random direction to compare against.</span>
          </span>
        </label>
        {control && <SeedField label="Control seed" testId="control-seed-input" value={control.seed} onChange={(seed) => setControl({ kind: "random_sign", seed })} />}
      </div>
    </div>
  );
}

function SeedField({ label, testId, value, onChange }: { label: string; testId: string; value: number; onChange: (seed: number) => void }) {
  const setFieldProblem = useStudioStore((state) => state.setFieldProblem);
  const [draft, setDraft] = useState<string>();
  const id = useId();
  const problem = draft !== undefined && !/^\d+$/.test(draft.trim()) ? `${label}: “${draft}” is not a whole number` : draft !== undefined && Number(draft) > MAX_SEED ? `${label}: ${draft} is above ${MAX_SEED}` : undefined;
  return (
    <div className="flex flex-col gap-1">
      <span className="flex items-center gap-2">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
          data-testid={testId}
          inputMode="numeric"
          value={draft ?? String(value)}
          aria-invalid={problem !== undefined}
          onChange={(event) => {
            const text = event.target.value;
            setDraft(text);
            const valid = /^\d+$/.test(text.trim()) && Number(text) <= MAX_SEED;
            setFieldProblem(testId, valid ? undefined : `${label}: “${text}” is not a whole number from 0 to ${MAX_SEED}.`);
            if (valid) onChange(Number(text));
          }}
          onBlur={() => {
            if (!problem) setDraft(undefined);
          }}
          className={`${inlineInputClass} w-32 px-2 py-1 font-mono ${problem ? "border-red-400" : ""}`}
        />
      </span>
      {problem && (
        <p role="alert" className="text-xs text-red-700">
          {problem}
        </p>
      )}
    </div>
  );
}
