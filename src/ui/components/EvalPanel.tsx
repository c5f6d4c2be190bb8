import { useId } from "react";
import type { Qwen2OnnxFormat } from "../../eval/onnx/buildQwen2Onnx.ts";
import { EVAL_ROLES, type EvalExecutionProvider, type EvalRole } from "../../browser/evalWorkerMessages.ts";
import { formatBytes } from "../format.ts";
import { TOY_TASK_SET_LINES } from "../../eval/tasks/toyTaskSets.ts";
import { buildMergeRequest } from "../state/mergeSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { EvalResults } from "./EvalResults.tsx";
import { GpuJobExport } from "./GpuJobExport.tsx";
import { SweepControls } from "./SweepControls.tsx";
import { TaskPicker } from "./TaskPicker.tsx";
import { inputClass, primaryButtonClass, secondaryButtonClass } from "./styles.ts";

const ROLE_LABELS: Record<EvalRole, string> = { target: "Target", merged: "Merged (current recipe)", plus: "Plus", minus: "Minus" };
/**
 * Measured by bench:eval: on WebAssembly int8 (q8) loads a quarter of float32's bytes and prefills
 * faster; onnxruntime-web's 4-bit kernel is slow there; float16 needs WebGPU's shader-f16.
 */
const FORMAT_LABELS: Record<Qwen2OnnxFormat, string> = {
  q8: "int8 with int8 activations (CPU)",
  f32: "float32",
  f16: "float16 (WebGPU with shader-f16)",
  q4: "4-bit, blocks of 32 (WebGPU; slow on CPU)",
};
/** The format the panel picks for each provider; changing the provider moves the format along unless the user chose another. */
const DEFAULT_FORMATS: Record<EvalExecutionProvider, Qwen2OnnxFormat> = { wasm: "q8", webgpu: "q4" };

/** GSM8K on the target and the merged model (and optionally plus / minus), in this browser. */
export function EvalPanel() {
  const state = useStudioStore();
  const run = state.evalRun;
  const running = run.status === "running";
  const blocker = useStudioStore((store) => {
    const built = buildMergeRequest(store);
    return "error" in built ? built.error : undefined;
  });
  const id = useId();

  return (
    <div data-testid="eval-panel" className="flex flex-col gap-4">
      <fieldset disabled={running} className="grid min-w-0 gap-4 sm:grid-cols-4">
        <legend className="sr-only">Evaluation settings</legend>
        <div className="flex flex-col gap-1.5">
          <label htmlFor={`${id}-n`} className="text-sm font-medium text-slate-700">
            Problems
          </label>
          <input
            id={`${id}-n`}
            data-testid="eval-n"
            type="number"
            min={1}
            max={state.evalTask.kind === "toy" ? TOY_TASK_SET_LINES : 1319}
            value={Number.isNaN(state.evalCount) ? "" : state.evalCount}
            disabled={state.evalPickedIds.trim() !== ""}
            onChange={(event) => state.setEvalSettings({ evalCount: event.target.valueAsNumber })}
            className={inputClass}
          />
          <p className="text-xs text-slate-500">{state.evalTask.kind === "toy" ? `Drawn from the toy task's ${TOY_TASK_SET_LINES} held-out problems.` : "Drawn from the 1319 test problems."}</p>
        </div>
        <div className="flex flex-col gap-1.5">
          <label htmlFor={`${id}-seed`} className="text-sm font-medium text-slate-700">
            Seed
          </label>
          <input
            id={`${id}-seed`}
            type="number"
            min={0}
            value={Number.isNaN(state.evalSeed) ? "" : state.evalSeed}
            disabled={state.evalPickedIds.trim() !== ""}
            onChange={(event) => state.setEvalSettings({ evalSeed: event.target.valueAsNumber })}
            className={inputClass}
          />
          <p className="text-xs text-slate-500">Same seed, same problems.</p>
        </div>
        <div className="flex flex-col gap-1.5 sm:col-span-2">
          <label htmlFor={`${id}-ids`} className="text-sm font-medium text-slate-700">
            Or pick problems by number
          </label>
          <input
            id={`${id}-ids`}
            type="text"
            placeholder="e.g. 0, 17, 101"
            value={state.evalPickedIds}
            onChange={(event) => state.setEvalSettings({ evalPickedIds: event.target.value })}
            className={inputClass}
          />
          <p className="text-xs text-slate-500">Line numbers of the set (GSM8K test set or toy set), from 0.</p>
        </div>
        <TaskPicker />
        <fieldset className="flex flex-col gap-1.5">
          <legend className="text-sm font-medium text-slate-700">Models</legend>
          {EVAL_ROLES.map((role) => (
            <label key={role} className="flex items-center gap-2 text-sm text-slate-700">
              <input type="checkbox" checked={state.evalRoles[role]} onChange={(event) => state.setEvalRole(role, event.target.checked)} />
              {ROLE_LABELS[role]}
            </label>
          ))}
        </fieldset>
        <SweepControls />
        <div className="flex flex-col gap-3">
          <div className="flex flex-col gap-1.5">
            <label htmlFor={`${id}-format`} className="text-sm font-medium text-slate-700">
              Weights
            </label>
            <select id={`${id}-format`} value={state.evalFormat} onChange={(event) => state.setEvalSettings({ evalFormat: event.target.value as Qwen2OnnxFormat })} className={inputClass}>
              {(Object.keys(FORMAT_LABELS) as Qwen2OnnxFormat[]).map((format) => (
                <option key={format} value={format}>
                  {FORMAT_LABELS[format]}
                </option>
              ))}
            </select>
          </div>
          <div className="flex flex-col gap-1.5">
            <label htmlFor={`${id}-provider`} className="text-sm font-medium text-slate-700">
              Runs on
            </label>
            <select id={`${id}-provider`} value={state.evalProvider} onChange={(event) => {
                const provider = event.target.value as EvalExecutionProvider;
                state.setEvalSettings({ evalProvider: provider, ...(state.evalFormat === DEFAULT_FORMATS[state.evalProvider] ? { evalFormat: DEFAULT_FORMATS[provider] } : {}) });
              }} className={inputClass}>
              <option value="wasm">CPU (WebAssembly)</option>
              <option value="webgpu">GPU (WebGPU)</option>
            </select>
          </div>
          <div className="flex flex-col gap-1.5">
            <label htmlFor={`${id}-max`} className="text-sm font-medium text-slate-700">
              Max new tokens
            </label>
            <input
              id={`${id}-max`}
              type="number"
              min={1}
              value={Number.isNaN(state.evalMaxNewTokens) ? "" : state.evalMaxNewTokens}
              onChange={(event) => state.setEvalSettings({ evalMaxNewTokens: event.target.valueAsNumber })}
              className={inputClass}
            />
          </div>
          <div className="flex flex-col gap-1.5">
            <label htmlFor={`${id}-batch`} className="text-sm font-medium text-slate-700">
              Batch
            </label>
            <input
              id={`${id}-batch`}
              data-testid="eval-batch"
              type="text"
              inputMode="numeric"
              placeholder="auto"
              value={state.evalBatch}
              onChange={(event) => state.setEvalSettings({ evalBatch: event.target.value })}
              className={inputClass}
            />
            <p className="text-xs text-slate-500">Problems answered at once (1 to 256); empty: chosen from the model's size and memory.</p>
          </div>
        </div>
      </fieldset>
      <div className="flex flex-wrap items-center gap-3">
        <button type="button" data-testid="eval-run" className={primaryButtonClass} disabled={blocker !== undefined || running} onClick={() => void state.startEval()}>
          {running ? "Evaluating…" : "Evaluate"}
        </button>
        {running && (
          <button type="button" className={secondaryButtonClass} onClick={state.cancelEval}>
            Cancel
          </button>
        )}
        <p className="text-sm text-slate-500">{blocker ?? "Nothing is downloaded or saved: the merged weights are computed as the evaluator loads them."}</p>
      </div>
      <GpuJobExport />
      <EvalRuntime />
      {running && <EvalProgress />}
      {run.status === "failed" && <ErrorMessage>{run.error}</ErrorMessage>}
      {run.status === "cancelled" && <p className="text-sm text-slate-600">The evaluation was cancelled; the answers so far are kept below.</p>}
      {run.status !== "idle" && (run.status !== "failed" || run.data) && <EvalResults />}
    </div>
  );
}

/** The threads the evaluator runs on (as its worker reports them) and the worker's notices. */
function EvalRuntime() {
  const threads = useStudioStore((state) => state.evalThreads);
  const notices = useStudioStore((state) => state.evalNotices);
  return (
    <>
      {threads && (
        <p data-testid="eval-threads" data-threads={threads.threads} className="text-sm text-slate-600">
          onnxruntime-web runs on {threads.threads} {threads.threads === 1 ? "thread" : "threads"}
          {!threads.crossOriginIsolated && " (this page is not cross-origin isolated, so threads are unavailable)"}.
        </p>
      )}
      {notices.length > 0 && (
        <ul data-testid="eval-notices" className="list-disc space-y-1 rounded-lg border border-amber-200 bg-amber-50 py-2 pl-8 pr-3 text-sm text-amber-900">
          {notices.map((notice) => (
            <li key={notice}>{notice}</li>
          ))}
        </ul>
      )}
    </>
  );
}

function EvalProgress() {
  const run = useStudioStore((state) => state.evalRun);
  if (run.status !== "running") return null;
  const total = run.problems.length * run.models.length;
  const answered = run.models.reduce((sum, model) => sum + (run.answers[model.id]?.length ?? 0), 0);
  const percent = Math.floor((100 * answered) / Math.max(1, total));
  const { current, live } = run;
  const position = run.models.findIndex((model) => model.id === current?.modelId);
  const name = position < 0 ? "" : `${run.models[position]!.label} (model ${position + 1} of ${run.models.length})`;
  let status = "Starting the evaluator…";
  let loadingPercent: number | undefined;
  if (current?.loading?.phase === "weights") {
    const { doneBytes, totalBytes } = current.loading;
    loadingPercent = Math.floor((100 * doneBytes) / Math.max(1, totalBytes));
    status = `Loading ${name}: reading and converting weights, ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}`;
  } else if (current?.loading?.phase === "session") status = `Loading ${name}: creating the onnxruntime session…`;
  else if (current?.progress) {
    const progress = current.progress;
    const eta = progress.etaSeconds === null ? "" : ` · about ${formatDuration(progress.etaSeconds)} left`;
    status =
      `${name}: ${progress.done} / ${progress.total} problems · batch ${progress.batchSize} (${progress.activeRows} answering) · ` +
      `${progress.tokensPerSecond.toFixed(1)} tokens/s (${progress.rowTokensPerSecond.toFixed(1)} per problem)${eta}`;
  } else if (current?.batchSize !== undefined) status = `${name}: reading the prompts, ${current.batchSize} at a time…`;
  else if (current) status = `${name}: starting its own evaluation worker…`;
  return (
    <div data-testid="eval-progress" className="flex flex-col gap-2">
      <div className="flex justify-between gap-3 text-sm text-slate-700">
        <span data-testid="eval-status">{status}</span>
        <span className="shrink-0">
          {answered} / {total} answers
        </span>
      </div>
      {loadingPercent !== undefined && (
        <div role="progressbar" aria-label="Loading the model" aria-valuemin={0} aria-valuemax={100} aria-valuenow={loadingPercent} className="h-1 overflow-hidden rounded-full bg-slate-200">
          <div className="h-full bg-slate-500" style={{ width: `${loadingPercent}%` }} />
        </div>
      )}
      <div role="progressbar" aria-label="Evaluation progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} className="h-2 overflow-hidden rounded-full bg-slate-200">
        <div className="h-full bg-indigo-600 transition-[width]" style={{ width: `${percent}%` }} />
      </div>
      {live.length > 0 && (
        <ul className="flex max-h-48 flex-col gap-1 overflow-auto">
          {live.map((answer) => (
            <li key={answer.problemIndex} className="rounded-lg bg-slate-50 p-2 text-xs text-slate-700">
              <span className="font-medium">
                #{answer.problemIndex} · {answer.tokensPerSecond.toFixed(1)} tokens/s
              </span>
              <pre className="max-h-16 overflow-auto whitespace-pre-wrap font-mono">{answer.text}</pre>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** "45 s", "3 min 20 s", "2 h 5 min". */
function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return minutes < 60 ? `${minutes} min ${whole % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
