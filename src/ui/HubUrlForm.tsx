import type { FormEvent } from "react";
import { useStudioStore } from "./store.ts";

export function HubUrlForm() {
  const hubUrl = useStudioStore((state) => state.hubUrl);
  const setHubUrl = useStudioStore((state) => state.setHubUrl);
  const loadModels = useStudioStore((state) => state.loadModels);
  const loading = useStudioStore((state) => state.modelList.status === "loading");

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    void loadModels();
  }

  return (
    <form className="flex flex-col gap-1.5" onSubmit={submit}>
      <label htmlFor="hub-url" className="text-sm font-medium text-slate-700">
        Hub URL
      </label>
      <div className="flex gap-2">
        <input
          id="hub-url"
          name="hub-url"
          type="url"
          inputMode="url"
          autoComplete="url"
          spellCheck={false}
          required
          value={hubUrl}
          onChange={(event) => setHubUrl(event.target.value)}
          aria-describedby="hub-url-help"
          className="min-w-0 flex-1 rounded-lg border border-slate-300 bg-white px-3 py-2 font-mono text-sm shadow-xs outline-none focus-visible:border-indigo-500 focus-visible:ring-2 focus-visible:ring-indigo-500/30"
        />
        <button
          type="submit"
          disabled={loading}
          className="rounded-lg bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-xs hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-wait disabled:opacity-60"
        >
          List models
        </button>
      </div>
      <p id="hub-url-help" className="text-xs text-slate-500">
        huggingface.co or any server that speaks the Hub API, such as the local demo hub.
      </p>
    </form>
  );
}
