import { useEffect, useState } from "react";
import { describeBackend, type BackendReport } from "../../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { MergePlan } from "../../core/plan/planMerge.ts";
import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import type { MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";
import { findResumableMerge } from "../merge/findResumableMerge.ts";
import type { UnfinishedMerge } from "../merge/opfsMergeOwnership.ts";
import { formatBytes, formatDuration } from "../format.ts";
import { buildMergeRequest, canSaveToFolder, type SaveState } from "../state/mergeSlice.ts";
import { selectMergePlan } from "../state/selectMergePlan.ts";
import { shardSizeBytes } from "../state/settingsSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { HubWait } from "./HubWait.tsx";
import { MergeEvaluationNote } from "./MergeEvaluationNote.tsx";
import { primaryButtonClass, secondaryButtonClass } from "./styles.ts";

/** Runs the merge in this browser, shows its progress, and saves the merged folder. */
export function MergePanel() {
  const merge = useStudioStore((state) => state.merge);
  const startMerge = useStudioStore((state) => state.startMerge);
  const resumeMerge = useStudioStore((state) => state.resumeMerge);
  const cancelMerge = useStudioStore((state) => state.cancelMerge);
  const resumable = useResumableMerge();
  const blocker = useStudioStore((state) => {
    const built = buildMergeRequest(state);
    return "error" in built ? built.error : undefined;
  });
  const running = merge.status === "running";

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          data-testid="merge-button"
          className={primaryButtonClass}
          disabled={blocker !== undefined || running}
          onClick={startMerge}
          aria-describedby="merge-help"
        >
          {running ? "Merging…" : "Merge in this browser"}
        </button>
        {resumable && blocker === undefined && !running && (
          <button
            type="button"
            data-testid="merge-resume"
            className={secondaryButtonClass}
            onClick={() => resumeMerge(resumable.folder)}
            title={`Continues the unfinished merge of this recipe kept in the browser's storage (${resumable.folder})`}
          >
            Resume ({Object.keys(resumable.journal.finished).length} of {resumable.journal.identity.recipe.shard_files.length} shards done)
          </button>
        )}
        {running && (
          <button type="button" data-testid="merge-cancel" className={secondaryButtonClass} onClick={cancelMerge}>
            Cancel
          </button>
        )}
        <p id="merge-help" className="text-sm text-slate-500">
          {blocker ?? "Streams the weights over HTTP range requests; memory stays bounded whatever the model size."}
        </p>
      </div>
      {running && (
        <>
          <MergeProgressBar progress={merge.progress} />
          <BackendStatus report={merge.backend} />
          {merge.hubStatus && <HubWait status={merge.hubStatus} testId="merge-hub-status" />}
        </>
      )}
      {merge.status === "cancelled" && <p className="text-sm text-slate-600">The merge was cancelled; nothing was kept.</p>}
      {merge.status === "failed" && (
        <ErrorMessage>
          {merge.error}
          {merge.kept && " The unfinished merge is kept in the browser's storage: Resume continues it."}
        </ErrorMessage>
      )}
      {merge.status === "done" && <MergeDone result={merge.result} record={merge.record} />}
    </div>
  );
}

/**
 * The unfinished merge of exactly the current recipe and inputs found in the browser's storage (a
 * tab closed mid-merge, a merge that failed), looked up again whenever the recipe changes or a merge
 * ends; undefined while none is found.
 */
function useResumableMerge(): UnfinishedMerge | undefined {
  const plan = useStudioStore(selectMergePlan);
  const shardSizeText = useStudioStore((state) => state.shardSizeText);
  const status = useStudioStore((state) => state.merge.status);
  const idle = status !== "running" && status !== "done";
  const [found, setFound] = useState<{ plan: MergePlan; shardSizeText: string; merge: UnfinishedMerge | undefined }>();
  useEffect(() => {
    const shard = shardSizeBytes(shardSizeText);
    if (!plan?.ok || "error" in shard || !idle) return;
    const controller = new AbortController();
    findResumableMerge(plan, shard.bytes, controller.signal).then(
      (merge) => {
        if (!controller.signal.aborted) setFound({ plan, shardSizeText, merge });
      },
      (error: unknown) => console.warn("Merge Studio: could not look for an unfinished merge to resume:", error),
    );
    return () => controller.abort();
  }, [plan, shardSizeText, idle]);
  return idle && found !== undefined && found.plan === plan && found.shardSizeText === shardSizeText ? found.merge : undefined;
}

function MergeProgressBar({ progress }: { progress: MergeProgress | undefined }) {
  const fraction = progress && progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : 0;
  const percent = Math.floor(fraction * 100);
  const speed = progress?.bytesPerSecond ?? 0;
  const eta = progress && speed > 0 ? (progress.bytesTotal - progress.bytesDone) / speed : Number.NaN;
  return (
    <div data-testid="merge-progress" className="flex flex-col gap-2">
      <div
        role="progressbar"
        aria-label="Merge progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        className="h-2.5 overflow-hidden rounded-full bg-slate-200"
      >
        <div className="h-full rounded-full bg-indigo-600 transition-[width]" style={{ width: `${fraction * 100}%` }} />
      </div>
      <p className="flex flex-wrap gap-x-4 gap-y-1 text-sm text-slate-600 tabular-nums">
        <span className="font-medium text-slate-900">{percent}%</span>
        {progress ? (
          <>
            <span>
              {formatBytes(progress.bytesDone)} of {formatBytes(progress.bytesTotal)}
            </span>
            <span>{(speed / 1e9).toFixed(2)} GB/s</span>
            <span>{formatDuration(eta)} left</span>
            <span className="min-w-0 truncate font-mono text-xs leading-5 text-slate-500">
              {progress.tensor} ({progress.tensorIndex + 1} of {progress.tensorCount})
            </span>
          </>
        ) : (
          <span>Starting…</span>
        )}
      </p>
    </div>
  );
}

/** Which backend computes the merge (data-testid="merge-backend"), and a notice when it fell back from the GPU. */
function BackendStatus({ report, finished = false }: { report: BackendReport | undefined; finished?: boolean }) {
  return (
    <div className="flex flex-col gap-2 text-sm">
      <p className="text-slate-600">
        {finished ? "Computed on" : "Computing on"}{" "}
        <span data-testid="merge-backend" className="font-medium text-slate-900">
          {report ? describeBackend(report.backend) : "…"}
        </span>
        {report?.note && !report.fallback && <span className="text-slate-500"> · {report.note}</span>}
      </p>
      {report?.fallback && (
        <p role="status" data-testid="merge-backend-notice" className="rounded-lg border border-amber-200 bg-amber-50 px-3 py-2 text-amber-900">
          {report.note}
        </p>
      )}
    </div>
  );
}

function MergeDone({ result, record }: { result: BrowserMergeResult; record: MergeRecordFiles }) {
  const save = useStudioStore((state) => state.save);
  const saveToFolder = useStudioStore((state) => state.saveToFolder);
  const saveAsZip = useStudioStore((state) => state.saveAsZip);
  const folderSupported = canSaveToFolder();
  const saving = save.status === "saving";
  const fileCount = Object.keys(result.files).length;

  return (
    <div data-testid="merge-done" className="flex flex-col gap-3 rounded-lg border border-emerald-200 bg-emerald-50 p-4">
      <p className="text-sm text-emerald-900">
        <span className="font-medium">Merged {result.folder}</span>: {fileCount} files, {formatBytes(result.bytesWritten)} in{" "}
        {formatDuration(result.seconds)}.
      </p>
      <BackendStatus report={result.backend} finished />
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          data-testid="save-folder-button"
          className={primaryButtonClass}
          disabled={!folderSupported || saving}
          onClick={() => void saveToFolder()}
        >
          Save to folder…
        </button>
        <button type="button" data-testid="save-zip-button" className={secondaryButtonClass} disabled={saving} onClick={() => void saveAsZip()}>
          Download .zip
        </button>
        {!folderSupported && <p className="text-sm text-slate-600">This browser cannot write to a folder; download the .zip instead.</p>}
      </div>
      <MergeEvaluationNote record={record} />
      <SaveStatus save={save} />
    </div>
  );
}

function SaveStatus({ save }: { save: SaveState }) {
  if (save.status === "idle") return null;
  if (save.status === "failed") return <ErrorMessage>{save.error}</ErrorMessage>;
  if (save.status === "saved") return <p role="status" className="text-sm text-emerald-900">{save.message}</p>;
  return (
    <p role="status" className="text-sm text-slate-600 tabular-nums">
      {save.target === "folder" ? "Saving" : "Zipping"}… {formatBytes(save.bytesDone)} of {formatBytes(save.bytesTotal)}
    </p>
  );
}
