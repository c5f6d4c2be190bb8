import type { FloatDtype } from "../../src/core/dtypes.ts";
import type { ChunkComputer } from "../../src/core/engine/ChunkComputer.ts";
import { writeMergedModel, type MergeProgress, type MergeResult } from "../../src/core/engine/writeMergedModel.ts";
import { planOneVector } from "./oneVectorRecipe.ts";
import { inspectModel } from "../../src/core/model/inspectModel.ts";
import type { MergePlan } from "../../src/core/plan/planMerge.ts";
import type { VocabMode } from "../../src/core/recipe/MergeRecipe.ts";
import { openNodeFolderSink } from "../../src/core/node/openNodeFolderSink.ts";
import type { ModelSource } from "../../src/core/sources/ModelSource.ts";

export interface MergeFoldersOptions {
  alpha: number;
  out: string;
  outDtype?: FloatDtype;
  vocab?: VocabMode;
  shardSize?: number;
  chunkBytes?: number;
  computer?: ChunkComputer;
  signal?: AbortSignal;
  onProgress?: (progress: MergeProgress) => void;
}

/** Plans and runs a merge of three opened sources through the core API. */
export async function mergeSources(
  sources: { target: ModelSource; plus: ModelSource; minus: ModelSource },
  options: MergeFoldersOptions,
): Promise<{ plan: MergePlan; result: MergeResult }> {
  const models = {
    target: await inspectModel(sources.target),
    plus: await inspectModel(sources.plus),
    minus: await inspectModel(sources.minus),
  };
  const plan = planOneVector(models, options.alpha, { outDtype: options.outDtype, vocab: options.vocab ?? "exact" });
  const result = await writeMergedModel(plan, await openNodeFolderSink(options.out), {
    shardSize: options.shardSize ?? 5e9,
    chunkBytes: options.chunkBytes ?? 1000,
    computer: options.computer,
    signal: options.signal,
    onProgress: options.onProgress,
    toolVersion: "test",
    now: () => new Date("2026-01-01T00:00:00Z"),
  });
  return { plan, result };
}
