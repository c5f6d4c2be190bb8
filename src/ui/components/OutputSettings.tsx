import { useId } from "react";
import type { BackendChoice } from "../../core/engine/createBackendComputer.ts";
import { selectMergePlan } from "../state/selectMergePlan.ts";
import { shardSizeBytes, type OutDtypeChoice } from "../state/settingsSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { formatBytes } from "../format.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { inputClass } from "./styles.ts";

/** Output dtype and shard size of the merged folder, and where the merge computes. */
export function OutputSettings() {
  const outDtype = useStudioStore((state) => state.outDtype);
  const setOutDtype = useStudioStore((state) => state.setOutDtype);
  const shardSizeText = useStudioStore((state) => state.shardSizeText);
  const setShardSizeText = useStudioStore((state) => state.setShardSizeText);
  const backend = useStudioStore((state) => state.backend);
  const setBackend = useStudioStore((state) => state.setBackend);
  const targetDtype = useStudioStore((state) => selectMergePlan(state)?.summaries.target.dtypes[0]);
  const id = useId();
  const shard = shardSizeBytes(shardSizeText);

  return (
    <div className="grid gap-4 sm:grid-cols-3">
      <div className="flex flex-col gap-1.5">
        <label htmlFor={`${id}-dtype`} className="text-sm font-medium text-slate-700">
          Output dtype
        </label>
        <select
          id={`${id}-dtype`}
          value={outDtype}
          onChange={(event) => setOutDtype(event.target.value as OutDtypeChoice)}
          className={inputClass}
        >
          <option value="target">Target's{targetDtype ? ` (${targetDtype})` : ""}</option>
          <option value="BF16">bfloat16</option>
          <option value="F16">float16</option>
          <option value="F32">float32</option>
        </select>
        <p className="text-xs text-slate-500">Computed in float32, rounded once to this dtype.</p>
      </div>
      <div className="flex flex-col gap-1.5">
        <label htmlFor={`${id}-shard`} className="text-sm font-medium text-slate-700">
          Shard size
        </label>
        <input
          id={`${id}-shard`}
          type="text"
          spellCheck={false}
          value={shardSizeText}
          onChange={(event) => setShardSizeText(event.target.value)}
          aria-invalid={"error" in shard}
          aria-describedby={`${id}-shard-help`}
          className={`${inputClass} font-mono`}
        />
        <p id={`${id}-shard-help`} className="text-xs text-slate-500">
          {"bytes" in shard ? `Files of at most ${formatBytes(shard.bytes)}, as transformers writes them.` : "e.g. 5GB, 500MB, 2GiB"}
        </p>
        {"error" in shard && <ErrorMessage>{shard.error}</ErrorMessage>}
      </div>
      <div className="flex flex-col gap-1.5">
        <label htmlFor={`${id}-backend`} className="text-sm font-medium text-slate-700">
          Compute on
        </label>
        <select
          id={`${id}-backend`}
          data-testid="backend-select"
          value={backend}
          onChange={(event) => setBackend(event.target.value as BackendChoice)}
          className={inputClass}
        >
          <option value="auto">Auto (GPU if not slower)</option>
          <option value="gpu">GPU (WebGPU)</option>
          <option value="cpu">CPU (workers)</option>
        </select>
        <p className="text-xs text-slate-500">The same bytes either way; Auto times both on the first chunks.</p>
      </div>
    </div>
  );
}
