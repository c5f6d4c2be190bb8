import { useEffect, useRef, useState } from "react";
import type { InspectionProgress } from "../../core/inspect/inspectVectors.ts";
import type { VectorInspection } from "../../core/inspect/VectorInspection.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import { formatBytes, formatDuration } from "../format.ts";
import { startVectorInspection } from "../inspect/startVectorInspection.ts";
import { selectMergeRequest } from "../state/selectMergeRequest.ts";
import { usableToken } from "../state/settingsSlice.ts";
import { useStudioStore, type StudioState } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { HubWait } from "./HubWait.tsx";
import { formatShare, formatStatistic, HEATMAP_STATISTICS, InspectionHeatmap, isPairStatistic, STATISTIC_LABELS, vectorName, type HeatmapStatistic } from "./InspectionHeatmap.tsx";
import { inputClass, primaryButtonClass, secondaryButtonClass, sectionClass, sectionTitleClass } from "./styles.ts";

type InspectRun =
  | { status: "idle" }
  | { status: "running"; progress: InspectionProgress | undefined; hubStatus: HubStatus | undefined; cancel: () => void }
  | { status: "done"; inspection: VectorInspection; inputsKey: string; seconds: number }
  | { status: "cancelled" }
  | { status: "failed"; error: string };

/** What the inspection depends on: the Hub, the models of every vector and the vocab mode (weights and methods do not change raw vectors). */
function inputsKeyOf(state: StudioState): string {
  const parts = selectMergeRequest(state);
  if ("error" in parts) return "";
  const { recipe } = parts;
  return JSON.stringify([state.hubUrl, recipe.target, recipe.vectors.map(({ plus, minus }) => [plus, minus]), recipe.vocab]);
}

/**
 * "Inspect vectors": the statistics of the recipe's raw vectors (src/core/inspect), computed in a
 * worker without merging, with progress and cancel, shown as a heatmap of layers x modules.
 */
export function VectorInspector() {
  const blocker = useStudioStore((state) => {
    const parts = selectMergeRequest(state);
    return "error" in parts ? parts.error : undefined;
  });
  const inputsKey = useStudioStore(inputsKeyOf);
  const [run, setRun] = useState<InspectRun>({ status: "idle" });
  const [statistic, setStatistic] = useState<HeatmapStatistic>("relativeNorm");
  const [vector, setVector] = useState(0);
  const [pair, setPair] = useState(0);
  const cancelRef = useRef<(() => void) | undefined>(undefined);
  useEffect(() => () => cancelRef.current?.(), []);

  const start = () => {
    const state = useStudioStore.getState();
    const parts = selectMergeRequest(state);
    if ("error" in parts) return;
    const accessToken = usableToken(state);
    const started = performance.now();
    const job = startVectorInspection({ hubUrl: state.hubUrl, ...(accessToken ? { accessToken } : {}), recipe: parts.recipe, inputs: parts.inputs }, (event) =>
      setRun((current) => {
        if (current.status !== "running") return current;
        if (event.type === "progress") return { ...current, progress: event.progress };
        return { ...current, hubStatus: event.status.kind === "resumed" ? undefined : event.status };
      }),
    );
    cancelRef.current = job.cancel;
    const key = inputsKeyOf(state);
    setRun({ status: "running", progress: undefined, hubStatus: undefined, cancel: job.cancel });
    job.done.then(
      (inspection) => {
        setVector(0);
        setPair(0);
        setRun({ status: "done", inspection, inputsKey: key, seconds: (performance.now() - started) / 1000 });
      },
      (error: unknown) => setRun(error instanceof DOMException && error.name === "AbortError" ? { status: "cancelled" } : { status: "failed", error: error instanceof Error ? error.message : String(error) }),
    ).finally(() => (cancelRef.current = undefined));
  };

  const running = run.status === "running";
  const stale = run.status === "done" && run.inputsKey !== inputsKey;
  return (
    <section data-testid="vector-inspector" aria-labelledby="inspect-title" className={sectionClass}>
      <div className="flex flex-col gap-1">
        <h2 id="inspect-title" className={sectionTitleClass}>
          Inspect vectors
        </h2>
        <p className="text-sm text-slate-600">
          How large each task vector v = plus − minus is, tensor by tensor and layer by layer, and how the vectors agree, before merging anything: the raw
          vectors, before weights and sparsification. Reads every weight of the models once.
        </p>
      </div>
      <div className="flex flex-wrap items-center gap-3">
        <button type="button" data-testid="inspect-run" className={primaryButtonClass} disabled={blocker !== undefined || running} onClick={start}>
          {running ? "Inspecting…" : run.status === "done" ? "Inspect again" : "Inspect vectors"}
        </button>
        {run.status === "running" && (
          <button type="button" data-testid="inspect-cancel" className={secondaryButtonClass} onClick={run.cancel}>
            Cancel
          </button>
        )}
        {blocker !== undefined && <p className="text-sm text-slate-500">{blocker}</p>}
      </div>
      {run.status === "running" && (
        <>
          <InspectProgress progress={run.progress} />
          {run.hubStatus && <HubWait status={run.hubStatus} testId="inspect-hub-status" />}
        </>
      )}
      {run.status === "cancelled" && <p className="text-sm text-slate-600">The inspection was cancelled.</p>}
      {run.status === "failed" && <ErrorMessage>{run.error}</ErrorMessage>}
      {stale && <p className="text-sm text-amber-800">The models changed since this inspection: inspect again to see theirs.</p>}
      {run.status === "done" && !stale && (
        <InspectionResult inspection={run.inspection} seconds={run.seconds} statistic={statistic} setStatistic={setStatistic} vector={vector} setVector={setVector} pair={pair} setPair={setPair} />
      )}
    </section>
  );
}

function InspectProgress({ progress }: { progress: InspectionProgress | undefined }) {
  const fraction = progress && progress.bytesTotal > 0 ? progress.bytesRead / progress.bytesTotal : 0;
  return (
    <div data-testid="inspect-progress" className="flex flex-col gap-1 text-sm text-slate-600">
      <progress className="w-full" value={fraction} max={1} />
      <span>
        {progress ? `${formatBytes(progress.bytesRead)} of ${formatBytes(progress.bytesTotal)} read, ${formatDuration(progress.elapsedSeconds)}: ${progress.tensor}` : "Opening the models…"}
      </span>
    </div>
  );
}

interface ResultProps {
  inspection: VectorInspection;
  seconds: number;
  statistic: HeatmapStatistic;
  setStatistic: (statistic: HeatmapStatistic) => void;
  vector: number;
  setVector: (vector: number) => void;
  pair: number;
  setPair: (pair: number) => void;
}

function InspectionResult({ inspection, seconds, statistic, setStatistic, vector, setVector, pair, setPair }: ResultProps) {
  const vectorCount = inspection.inputs.vectors.length;
  const { total } = inspection;
  const shown = isPairStatistic(statistic) && vectorCount < 2 ? "relativeNorm" : statistic;
  return (
    <div data-testid="inspect-done" className="flex flex-col gap-4">
      <p className="text-sm text-slate-600">
        {inspection.tensors.length} tensors inspected in {formatDuration(seconds)}
        {inspection.skipped.length > 0 && ` (${inspection.skipped.length} skipped: ${inspection.skipped.map((entry) => `${entry.name}, ${entry.reason}`).join("; ")})`}.{" "}
        {total.vectors.map((stats, j) => `${vectorName(j)}: ‖v‖ / ‖target‖ ${formatStatistic(stats.relativeNorm)}, ${formatShare(stats.zeroShare)} zeros`).join("; ")}
        {total.pairs.map((entry) => `; cosine of ${vectorName(entry.vectors[0])} and ${vectorName(entry.vectors[1])}: ${formatStatistic(entry.cosine)}`).join("")}.
      </p>
      <div className="flex flex-wrap items-end gap-4 text-sm">
        <label className="flex flex-col gap-1">
          <span className="font-medium text-slate-700">Colour</span>
          <select data-testid="inspect-statistic" className={inputClass} value={shown} onChange={(event) => setStatistic(event.target.value as HeatmapStatistic)}>
            {HEATMAP_STATISTICS.map((option) => (
              <option key={option} value={option} disabled={isPairStatistic(option) && vectorCount < 2}>
                {STATISTIC_LABELS[option]}
              </option>
            ))}
          </select>
        </label>
        {!isPairStatistic(shown) && vectorCount > 1 && (
          <label className="flex flex-col gap-1">
            <span className="font-medium text-slate-700">Vector</span>
            <select data-testid="inspect-vector" className={inputClass} value={vector} onChange={(event) => setVector(Number(event.target.value))}>
              {inspection.inputs.vectors.map((_, j) => (
                <option key={j} value={j}>
                  {vectorName(j)}
                </option>
              ))}
            </select>
          </label>
        )}
        {isPairStatistic(shown) && total.pairs.length > 1 && (
          <label className="flex flex-col gap-1">
            <span className="font-medium text-slate-700">Pair</span>
            <select data-testid="inspect-pair" className={inputClass} value={pair} onChange={(event) => setPair(Number(event.target.value))}>
              {total.pairs.map((entry, k) => (
                <option key={k} value={k}>
                  {vectorName(entry.vectors[0])} and {vectorName(entry.vectors[1])}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <InspectionHeatmap inspection={inspection} statistic={shown} vector={vector} pair={pair} />
    </div>
  );
}
