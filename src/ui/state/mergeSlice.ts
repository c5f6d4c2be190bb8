import type { StateCreator } from "zustand";
import type { BackendReport } from "../../core/engine/createBackendComputer.ts";
import type { MergeProgress } from "../../core/engine/writeMergedModel.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import {
  discardMerge,
  downloadAsZip,
  saveToDirectory,
  startBrowserMerge,
  UnfinishedMergeKept,
} from "../merge/browserMerge.ts";
import type { BrowserMergeRequest, BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import type { MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";
import { readMergeRecordFiles } from "../merge/mergedFiles.ts";
import { recordedMergeFiles, type SubstituteFiles } from "../merge/recordedMergeFiles.ts";
import { mergeEvaluation, STUDIO_REPORT_SOURCE } from "./mergeEvaluation.ts";
import { selectMergePlan } from "./selectMergePlan.ts";
import { studioEvalReport } from "./studioEvalReport.ts";
import { selectMergeRequest } from "./selectMergeRequest.ts";
import { shardSizeBytes, usableToken } from "./settingsSlice.ts";
import type { StudioState } from "./studioStore.ts";

export type MergeState =
  | { status: "idle" }
  | {
      status: "running";
      progress: MergeProgress | undefined;
      backend: BackendReport | undefined;
      /** Set while reads wait on the Hub's rate limit. */
      hubStatus: HubStatus | undefined;
      cancel: () => void;
    }
  /** `record`: the merge's README.md and merge_recipe.json as written, which a save with evaluation results rewrites. */
  | { status: "done"; result: BrowserMergeResult; record: MergeRecordFiles }
  | { status: "cancelled" }
  /** `kept`: the unfinished merge stays in the browser's storage, and Resume continues it. */
  | { status: "failed"; error: string; kept?: boolean };

export type SaveTarget = "folder" | "zip";

export type SaveState =
  | { status: "idle" }
  | { status: "saving"; target: SaveTarget; bytesDone: number; bytesTotal: number }
  | { status: "saved"; target: SaveTarget; message: string }
  | { status: "failed"; target: SaveTarget; error: string };

export interface MergeSlice {
  merge: MergeState;
  save: SaveState;
  startMerge: () => void;
  /** Continues the unfinished merge in OPFS merges/<folder> (see findResumableMerge). */
  resumeMerge: (folder: string) => void;
  cancelMerge: () => void;
  /** Forgets a finished merge and frees its storage: called whenever the recipe changes, so no stale result can be saved. */
  discardMergeResult: () => void;
  saveToFolder: () => Promise<void>;
  saveAsZip: () => Promise<void>;
}

interface WindowWithDirectoryPicker {
  showDirectoryPicker?: (options?: { mode?: "read" | "readwrite"; id?: string }) => Promise<FileSystemDirectoryHandle>;
}

export function canSaveToFolder(): boolean {
  return typeof (window as WindowWithDirectoryPicker).showDirectoryPicker === "function";
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
const isAbort = (error: unknown) => error instanceof DOMException && error.name === "AbortError";

/** The request for the current recipe, or why there is none. */
export function buildMergeRequest(state: StudioState): { request: BrowserMergeRequest } | { error: string } {
  const parts = selectMergeRequest(state);
  if ("error" in parts) return parts;
  const plan = selectMergePlan(state);
  if (!plan) return { error: "Reading the models' headers…" };
  if (!plan.ok) return { error: "The models are not compatible: see the compatibility report." };
  const shard = shardSizeBytes(state.shardSizeText);
  if ("error" in shard) return shard;
  const { recipe, inputs } = parts;
  const accessToken = usableToken(state);
  return {
    request: {
      hubUrl: state.hubUrl,
      ...(accessToken ? { accessToken } : {}),
      recipe,
      inputs,
      shardSize: shard.bytes,
      backend: state.backend,
    },
  };
}

/**
 * The files a save of the finished merge writes in place of its own: the card and record with the
 * last run's results and the report beside them when that run evaluated this merge
 * (mergeEvaluation), else none.
 */
async function substitutesFor(state: StudioState): Promise<SubstituteFiles> {
  const { merge } = state;
  if (merge.status !== "done") return {};
  const run = state.evalRun;
  const evaluation = mergeEvaluation(merge.record.recipeJson, run.status === "done" ? studioEvalReport(run, run.finishedAt) : null);
  if (evaluation.kind !== "included") return {};
  return recordedMergeFiles(merge.record, evaluation.report, { modelName: merge.result.folder, reportSource: STUDIO_REPORT_SOURCE });
}

export const createMergeSlice: StateCreator<StudioState, [], [], MergeSlice> = (set, get) => {
  const runMerge = (resumeFolder?: string) => {
    if (get().merge.status === "running") return;
    get().discardMergeResult();
    const built = buildMergeRequest(get());
    if ("error" in built) {
      set({ merge: { status: "failed", error: built.error } });
      return;
    }
    let cancelled = false;
    const job = startBrowserMerge(
      built.request,
      (progress) => {
        const merge = get().merge;
        if (merge.status === "running") set({ merge: { ...merge, progress } });
      },
      (backend) => {
        const merge = get().merge;
        if (merge.status === "running") set({ merge: { ...merge, backend } });
      },
      {
        onHubStatus: (hubStatus) => {
          const merge = get().merge;
          if (merge.status === "running") set({ merge: { ...merge, hubStatus: hubStatus.kind === "resumed" ? undefined : hubStatus } });
        },
        resumeFolder,
      },
    );
    const cancel = () => {
      cancelled = true;
      job.cancel();
      set({ merge: { status: "cancelled" } });
    };
    set({ merge: { status: "running", progress: undefined, backend: undefined, hubStatus: undefined, cancel }, save: { status: "idle" } });
    job.done.then(
      async (result) => {
        if (cancelled) return;
        try {
          const record = await readMergeRecordFiles(result);
          if (!cancelled) set({ merge: { status: "done", result, record } });
        } catch (error) {
          if (!cancelled) set({ merge: { status: "failed", error: `The merge finished, but its files could not be read back: ${message(error)}` } });
        }
      },
      (error: unknown) => {
        if (cancelled) return;
        set({ merge: isAbort(error) ? { status: "cancelled" } : { status: "failed", error: message(error), kept: error instanceof UnfinishedMergeKept } });
      },
    );
  };

  return {
    merge: { status: "idle" },
    save: { status: "idle" },

    startMerge: () => runMerge(),
    resumeMerge: (folder) => runMerge(folder),

    cancelMerge: () => {
      const merge = get().merge;
      if (merge.status === "running") merge.cancel();
    },

    discardMergeResult: () => {
      const merge = get().merge;
      if (merge.status === "running") return;
      // Best effort: a browser that refuses to delete leaves a stale folder in private storage, nothing worse.
      if (merge.status === "done") discardMerge(merge.result).catch(() => undefined);
      set({ merge: { status: "idle" }, save: { status: "idle" } });
    },

    saveToFolder: async () => {
      const merge = get().merge;
      const picker = (window as WindowWithDirectoryPicker).showDirectoryPicker;
      if (merge.status !== "done" || !picker) return;
      const { result } = merge;
      let directory: FileSystemDirectoryHandle;
      try {
        directory = await picker({ mode: "readwrite", id: "merge-studio-output" });
      } catch (error) {
        if (!isAbort(error)) set({ save: { status: "failed", target: "folder", error: message(error) } });
        return;
      }
      set({ save: { status: "saving", target: "folder", bytesDone: 0, bytesTotal: result.bytesWritten } });
      try {
        const substitutes = await substitutesFor(get());
        await saveToDirectory(
          result,
          directory,
          result.folder,
          (bytesDone, bytesTotal) => set({ save: { status: "saving", target: "folder", bytesDone, bytesTotal } }),
          substitutes,
        );
        set({ save: { status: "saved", target: "folder", message: `Saved as ${directory.name}/${result.folder}.` } });
      } catch (error) {
        set({ save: { status: "failed", target: "folder", error: message(error) } });
      }
    },

    saveAsZip: async () => {
      const merge = get().merge;
      if (merge.status !== "done") return;
      const zipName = `${merge.result.folder}.zip`;
      set({ save: { status: "saving", target: "zip", bytesDone: 0, bytesTotal: merge.result.bytesWritten } });
      try {
        await downloadAsZip(merge.result, zipName, await substitutesFor(get()));
        set({ save: { status: "saved", target: "zip", message: `Downloading ${zipName}.` } });
      } catch (error) {
        set({ save: { status: "failed", target: "zip", error: message(error) } });
      }
    },
  };
};
