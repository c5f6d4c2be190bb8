import { useId, useState, type FormEvent } from "react";
import { tokenProblem } from "../state/settingsSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { inputClass, secondaryButtonClass } from "./styles.ts";

/** Which Hub to talk to, and the access token for private or gated models. */
export function HubSettings() {
  return (
    <div className="grid gap-4 md:grid-cols-[3fr_2fr]">
      <HubUrlField />
      <AccessTokenField />
    </div>
  );
}

function HubUrlField() {
  const hubUrl = useStudioStore((state) => state.hubUrl);
  const setHubUrl = useStudioStore((state) => state.setHubUrl);
  const [draft, setDraft] = useState<string>();
  const [error, setError] = useState<string>();
  const id = useId();

  function apply(event?: FormEvent) {
    event?.preventDefault();
    if (draft === undefined) return;
    try {
      setHubUrl(draft);
      setDraft(undefined);
      setError(undefined);
    } catch (failure) {
      setError((failure as Error).message);
    }
  }

  return (
    <form className="flex flex-col gap-1.5" onSubmit={apply}>
      <label htmlFor={id} className="text-sm font-medium text-slate-700">
        Hub URL
      </label>
      <div className="flex gap-2">
        <input
          id={id}
          type="url"
          inputMode="url"
          spellCheck={false}
          required
          value={draft ?? hubUrl}
          onChange={(event) => setDraft(event.target.value)}
          onBlur={() => apply()}
          aria-describedby={`${id}-help`}
          className={`${inputClass} font-mono`}
        />
        <button type="submit" className={secondaryButtonClass} disabled={draft === undefined}>
          Apply
        </button>
      </div>
      <p id={`${id}-help`} className="text-xs text-slate-500">
        huggingface.co or any server that speaks the Hub API, such as the local demo hub.
      </p>
      {error && <ErrorMessage>{error}</ErrorMessage>}
    </form>
  );
}

function AccessTokenField() {
  const accessToken = useStudioStore((state) => state.accessToken);
  const rememberToken = useStudioStore((state) => state.rememberToken);
  const setAccessToken = useStudioStore((state) => state.setAccessToken);
  const setRememberToken = useStudioStore((state) => state.setRememberToken);
  const reinspectHubModels = useStudioStore((state) => state.reinspectHubModels);
  const [committed, setCommitted] = useState(accessToken);
  const id = useId();
  const problem = tokenProblem(accessToken);

  return (
    <div className="flex flex-col gap-1.5">
      <label htmlFor={id} className="text-sm font-medium text-slate-700">
        Access token <span className="font-normal text-slate-500">(optional)</span>
      </label>
      <input
        id={id}
        type="password"
        autoComplete="off"
        spellCheck={false}
        placeholder="hf_…"
        value={accessToken}
        onChange={(event) => setAccessToken(event.target.value.trim())}
        onBlur={() => {
          if (accessToken === committed || problem) return;
          setCommitted(accessToken);
          reinspectHubModels();
        }}
        aria-describedby={`${id}-help`}
        aria-invalid={problem !== undefined}
        className={`${inputClass} font-mono`}
      />
      <p id={`${id}-help`} className="text-xs text-slate-500">
        For private or gated models; sent only to the Hub, never put in a link.
      </p>
      <label className="flex items-center gap-2 text-xs text-slate-600">
        <input
          type="checkbox"
          checked={rememberToken}
          onChange={(event) => setRememberToken(event.target.checked)}
          className="size-3.5 accent-indigo-600"
        />
        Remember for this tab
      </label>
      {problem && <ErrorMessage>{problem}</ErrorMessage>}
    </div>
  );
}
