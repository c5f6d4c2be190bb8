import { useState } from "react";
import { oneLineMessage } from "../../core/messages/safeText.ts";
import { renderGpuJob } from "../../eval/job/renderGpuJob.ts";
import { downloadGpuJob, GPU_JOB_FOLDER } from "../eval/downloadGpuJob.ts";
import { loadGsm8kSplit } from "../eval/loadGsm8kSplit.ts";
import { buildGpuJobRequest, gpuJobTask } from "../state/gpuJobRequest.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { secondaryButtonClass } from "./styles.ts";

type ExportState = { status: "idle" } | { status: "exporting" } | { status: "done"; message: string } | { status: "failed"; error: string };

/**
 * "Export as a GPU job": the sweep as a folder of mergekit configs and a run.sh for mergekit and
 * lm-evaluation-harness on vLLM (renderGpuJob), downloaded as a zip; disabled, with the reason,
 * for a task lm-eval does not have; a failure (a recipe mergekit cannot express) in one line.
 */
export function GpuJobExport() {
  const evalTask = useStudioStore((state) => state.evalTask);
  const [exported, setExported] = useState<ExportState>({ status: "idle" });
  const chosen = gpuJobTask({ evalTask });
  const exportJob = async () => {
    setExported({ status: "exporting" });
    try {
      const { options, problemsFrom, localFolders } = await buildGpuJobRequest(useStudioStore.getState(), () => loadGsm8kSplit("test"));
      await downloadGpuJob(renderGpuJob(options));
      const folders =
        localFolders.length === 0 ? "" : ` The job names ${localFolders.map((name) => `"${name}"`).join(", ")} by folder name only: put those models there on the GPU machine, or edit the paths in configs/ and run.sh.`;
      setExported({ status: "done", message: `Downloading ${GPU_JOB_FOLDER}.zip: ${options.tasks.join(", ")} on the target and alpha ${options.alphas.join(", ")}, ${problemsFrom}.${folders}` });
    } catch (error) {
      setExported({ status: "failed", error: oneLineMessage(error instanceof Error ? error.message : String(error)) });
    }
  };
  return (
    <div data-testid="gpu-job" className="flex flex-col gap-1.5">
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          data-testid="gpu-job-export"
          className={secondaryButtonClass}
          disabled={"reason" in chosen || exported.status === "exporting"}
          onClick={() => void exportJob()}
        >
          Export as a GPU job
        </button>
        <p className="text-xs text-slate-500">
          {"reason" in chosen ? chosen.reason : "mergekit configs per alpha and a run.sh for mergekit + lm-evaluation-harness (vLLM), to rerun this sweep on a GPU machine."}
        </p>
      </div>
      {exported.status === "done" && (
        <p role="status" data-testid="gpu-job-status" className="text-sm text-slate-600">
          {exported.message}
        </p>
      )}
      {exported.status === "failed" && (
        <p role="alert" data-testid="gpu-job-error" className="truncate text-sm text-red-700" title={exported.error}>
          {exported.error}
        </p>
      )}
    </div>
  );
}
