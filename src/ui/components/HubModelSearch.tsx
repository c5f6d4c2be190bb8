import { listModels } from "@huggingface/hub";
import { useEffect, useId, useState, type KeyboardEvent } from "react";
import { parseHubSpec } from "../../core/sources/parseHubSpec.ts";
import { formatCount, formatDate } from "../format.ts";
import type { HubInput } from "../state/modelInput.ts";
import { usableToken } from "../state/settingsSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { inputClass, secondaryButtonClass } from "./styles.ts";

const SEARCH_DELAY_MS = 250;
const RESULT_LIMIT = 8;

interface FoundModel {
  name: string;
  downloads: number;
  likes: number;
  updatedAt: Date;
}

type Results =
  | { status: "idle" }
  | { status: "loading"; query: string; models: FoundModel[] }
  | { status: "loaded"; query: string; models: FoundModel[] }
  | { status: "failed"; query: string; error: string };

function describeSearchFailure(hubUrl: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof TypeError) {
    return `Could not reach the Hub at ${hubUrl} (${reason}). Check the URL, and that the server is running and allows cross-origin requests.`;
  }
  return `Could not search ${hubUrl}: ${reason}`;
}

/** Search-as-you-type over the Hub's models, or a pasted "owner/name@revision". */
export function HubModelSearch({ roleLabel, onPick }: { roleLabel: string; onPick: (input: HubInput) => void }) {
  const hubUrl = useStudioStore((state) => state.hubUrl);
  const accessToken = useStudioStore(usableToken);
  const [query, setQuery] = useState("");
  const [open, setOpen] = useState(false);
  const [results, setResults] = useState<Results>({ status: "idle" });
  const [active, setActive] = useState(-1);
  const [specError, setSpecError] = useState<string>();
  const inputId = useId();
  const listId = useId();
  const helpId = useId();

  useEffect(() => {
    if (!open) return;
    const controller = new AbortController();
    const searchText = query.trim().split("@")[0]!;
    const timer = setTimeout(async () => {
      setResults((previous) => ({ status: "loading", query: searchText, models: "models" in previous ? previous.models : [] }));
      try {
        const models: FoundModel[] = [];
        const entries = listModels({
          ...(searchText ? { search: { query: searchText } } : {}),
          hubUrl,
          limit: RESULT_LIMIT,
          sort: "downloads",
          ...(accessToken ? { accessToken } : {}),
          fetch: (input, init) => fetch(input, { ...init, signal: controller.signal }),
        });
        for await (const entry of entries) {
          models.push({ name: entry.name, downloads: entry.downloads, likes: entry.likes, updatedAt: entry.updatedAt });
        }
        if (!controller.signal.aborted) setResults({ status: "loaded", query: searchText, models });
      } catch (error) {
        if (!controller.signal.aborted) setResults({ status: "failed", query: searchText, error: describeSearchFailure(hubUrl, error) });
      }
    }, SEARCH_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [open, query, hubUrl, accessToken]);

  const models = results.status === "loaded" || results.status === "loading" ? results.models : [];

  function pick(input: HubInput) {
    setQuery("");
    setOpen(false);
    setActive(-1);
    setSpecError(undefined);
    onPick(input);
  }

  function pickTyped() {
    const typed = query.trim();
    if (!typed) return;
    try {
      const { repoId, revision } = parseHubSpec(typed);
      pick({ kind: "hub", repo: repoId, ...(revision ? { revision } : {}) });
    } catch (error) {
      setSpecError(`${(error as Error).message}, or pick one of the search results.`);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      setOpen(true);
      if (models.length === 0) return;
      const down = event.key === "ArrowDown";
      setActive((index) => (down ? Math.min(index + 1, models.length - 1) : Math.max(index - 1, -1)));
    } else if (event.key === "Enter") {
      event.preventDefault();
      const chosen = open ? models[active] : undefined;
      if (chosen) pick({ kind: "hub", repo: chosen.name });
      else pickTyped();
    } else if (event.key === "Escape") {
      setOpen(false);
      setActive(-1);
    }
  }

  const expanded = open && (models.length > 0 || results.status === "loaded");
  const optionId = (index: number) => `${listId}-option-${index}`;

  return (
    <div className="flex flex-col gap-1.5">
      <label htmlFor={inputId} className="text-sm font-medium text-slate-700">
        {roleLabel} model on the Hub
      </label>
      <div className="relative flex gap-2">
        <input
          id={inputId}
          type="text"
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={expanded}
          aria-controls={listId}
          aria-describedby={helpId}
          {...(expanded && active >= 0 ? { "aria-activedescendant": optionId(active) } : {})}
          autoComplete="off"
          spellCheck={false}
          placeholder="Search or paste owner/name"
          value={query}
          onChange={(event) => {
            setQuery(event.target.value);
            setOpen(true);
            setActive(-1);
            setSpecError(undefined);
          }}
          onFocus={() => setOpen(true)}
          onBlur={() => setOpen(false)}
          onKeyDown={onKeyDown}
          className={`${inputClass} font-mono`}
        />
        <button type="button" className={secondaryButtonClass} onClick={pickTyped} disabled={!query.trim()}>
          Use
        </button>
        {expanded && (
          <ul
            id={listId}
            role="listbox"
            aria-label={`Hub models matching “${query.trim()}”`}
            aria-busy={results.status === "loading"}
            className="absolute inset-x-0 top-full z-20 mt-1 max-h-80 overflow-auto rounded-lg border border-slate-200 bg-white py-1 text-sm shadow-lg"
          >
            {models.length === 0 && <li className="px-3 py-2 text-slate-500">No model on this Hub matches “{query.trim()}”.</li>}
            {models.map((model, index) => (
              <li
                key={model.name}
                id={optionId(index)}
                role="option"
                aria-selected={index === active}
                onMouseDown={(event) => event.preventDefault()}
                onClick={() => pick({ kind: "hub", repo: model.name })}
                onMouseEnter={() => setActive(index)}
                className={`flex cursor-pointer flex-col gap-0.5 px-3 py-2 ${index === active ? "bg-indigo-50" : ""}`}
              >
                <span className="font-mono break-all text-slate-900">{model.name}</span>
                <span className="flex gap-3 text-xs text-slate-500 tabular-nums">
                  <span>
                    <span aria-hidden="true">↓</span> {formatCount(model.downloads)} <span className="sr-only">downloads</span>
                  </span>
                  <span>
                    <span aria-hidden="true">♥</span> {formatCount(model.likes)} <span className="sr-only">likes</span>
                  </span>
                  <span>updated {formatDate(model.updatedAt)}</span>
                </span>
              </li>
            ))}
          </ul>
        )}
      </div>
      <p id={helpId} className="text-xs text-slate-500">
        Type to search; ↑ ↓ and Enter to pick. A pasted id may name a branch, tag or commit after “@”.
      </p>
      {specError && <ErrorMessage>{specError}</ErrorMessage>}
      {results.status === "failed" && <ErrorMessage>{results.error}</ErrorMessage>}
    </div>
  );
}
