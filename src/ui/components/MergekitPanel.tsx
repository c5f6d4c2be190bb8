import { useId, useState, type ChangeEvent } from "react";
import { oneLineMessage } from "../../core/messages/safeText.ts";
import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { parseMergekitYaml } from "../../core/recipe/parseMergekitYaml.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import { renderRecipeJson } from "../../core/recipe/renderRecipeJson.ts";
import { renderMergekitYaml } from "../../core/recipe/renderMergekitYaml.ts";
import { useShallow } from "zustand/react/shallow";
import { EMPTY_SLOT } from "../state/recipeLink.ts";
import { pickRecipeSource, selectRecipe } from "../state/selectMergeRequest.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { inputClass, secondaryButtonClass } from "./styles.ts";

type ImportState = { status: "idle" } | { status: "failed"; error: string } | { status: "done"; problems: string[] };

/**
 * mergekit interop: import a mergekit YAML (pasted or from a file) into the studio, and export the
 * current recipe as mergekit YAML (copy or download) with what mergekit computes differently, or
 * plainly why mergekit cannot express the recipe.
 */
export function MergekitPanel() {
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <MergekitImport />
      <MergekitExport />
    </div>
  );
}

function MergekitImport() {
  const loadRecipe = useStudioStore((state) => state.loadRecipe);
  const [text, setText] = useState("");
  const [result, setResult] = useState<ImportState>({ status: "idle" });
  const id = useId();

  /** A recipe file (JSON: pasted text that starts with "{", or a .json file) or a mergekit YAML. */
  const importText = (text: string, source: string) => {
    try {
      const isJson = source.endsWith(".json") || (!/\.ya?ml$/.test(source) && text.trimStart().startsWith("{"));
      const recipe = isJson ? parseRecipeJson(text, source) : parseMergekitYaml(text, source);
      setResult({ status: "done", problems: loadRecipe(recipe) });
    } catch (error) {
      setResult({ status: "failed", error: oneLineMessage(error instanceof Error ? error.message : String(error)) });
    }
  };
  const pickFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    const content = await file.text();
    setText(content);
    importText(content, file.name);
  };

  return (
    <div className="flex min-w-0 flex-col gap-2">
      <label htmlFor={`${id}-yaml`} className="text-sm font-medium text-slate-700">
        Import mergekit YAML (or a recipe JSON)
      </label>
      <textarea
        id={`${id}-yaml`}
        data-testid="mergekit-import-text"
        rows={8}
        spellCheck={false}
        value={text}
        onChange={(event) => setText(event.target.value)}
        placeholder={"merge_method: ties\nbase_model: org/base\nmodels:\n  - model: org/donor\n    parameters: {weight: 1.0, density: 0.5}"}
        className={`${inputClass} font-mono text-xs`}
      />
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          data-testid="mergekit-import"
          className={secondaryButtonClass}
          disabled={text.trim() === ""}
          onClick={() => importText(text, text.trimStart().startsWith("{") ? "pasted JSON" : "pasted YAML")}
        >
          Import
        </button>
        <label className={`${secondaryButtonClass} cursor-pointer`}>
          Pick a file…
          <input type="file" accept=".yml,.yaml,.json,text/yaml,application/json" className="sr-only" onChange={(event) => void pickFile(event)} />
        </label>
      </div>
      {result.status === "failed" && <ErrorMessage>{result.error} Nothing was changed.</ErrorMessage>}
      {result.status === "done" && (
        <p role="status" data-testid="mergekit-import-done" className="text-sm text-emerald-800">
          Imported: the models are read from the Hub.
        </p>
      )}
      {result.status === "done" && result.problems.map((problem) => <ErrorMessage key={problem}>{problem}</ErrorMessage>)}
    </div>
  );
}

/** Offers `text` as a file download named `name`. */
function download(text: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

function MergekitExport() {
  const source = useStudioStore(useShallow(pickRecipeSource));
  const recipe = selectRecipe(source);
  const unpicked = [recipe.target, ...recipe.vectors.flatMap((vector) => [vector.plus, vector.minus])].includes(EMPTY_SLOT);

  return (
    <div className="flex min-w-0 flex-col gap-2">
      <h3 className="text-sm font-medium text-slate-700">Export mergekit YAML</h3>
      {unpicked ? <p className="text-sm text-slate-500">Pick every model of the recipe to export it.</p> : <MergekitYaml recipe={recipe} />}
      {!unpicked && (
        <p className="flex flex-wrap items-center gap-3 text-sm text-slate-500">
          <button type="button" data-testid="recipe-json-download" className={secondaryButtonClass} onClick={() => download(renderRecipeJson(recipe), "recipe.json", "application/json")}>
            Download recipe.json
          </button>
          <span>
            The recipe file of <code className="font-mono text-xs">merge-studio merge --config</code>: any recipe, also one mergekit cannot express.
          </span>
        </p>
      )}
    </div>
  );
}

function MergekitYaml({ recipe }: { recipe: MergeRecipe }) {
  const [copied, setCopied] = useState(false);
  const exported = renderMergekitYaml(recipe);
  if (!exported.ok) {
    return (
      <p data-testid="mergekit-export-reason" className="rounded-lg border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
        mergekit cannot express this recipe: {exported.reason}.
      </p>
    );
  }
  const copy = async () => {
    await navigator.clipboard.writeText(exported.yaml);
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <>
      <pre data-testid="mergekit-export" className="max-h-64 overflow-auto rounded-lg border border-slate-200 bg-slate-50 p-3 font-mono text-xs text-slate-800">
        {exported.yaml}
      </pre>
      {exported.notes.length > 0 && (
        <ul data-testid="mergekit-export-notes" className="list-disc space-y-1 pl-5 text-xs text-amber-800">
          {exported.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      <div className="flex flex-wrap gap-3">
        <button type="button" className={secondaryButtonClass} onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" data-testid="mergekit-download" className={secondaryButtonClass} onClick={() => download(exported.yaml, "mergekit.yml", "text/yaml")}>
          Download mergekit.yml
        </button>
      </div>
    </>
  );
}
