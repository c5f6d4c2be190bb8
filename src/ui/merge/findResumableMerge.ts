import { identifyMerge, identityDifferences } from "../../core/engine/mergeJournal.ts";
import type { MergePlan } from "../../core/plan/planMerge.ts";
import { TOOL_VERSION } from "../../core/version.ts";
import { listUnfinishedMerges, sweepOrphanedMergesOnce, type UnfinishedMerge } from "./opfsMergeOwnership.ts";

/**
 * The newest unfinished merge in OPFS, held by no tab, whose journal records exactly this recipe and
 * these inputs (as the merge worker would record them), if any. Runs after the page's start-up
 * sweep, so that what it finds is kept.
 */
export async function findResumableMerge(plan: MergePlan, shardSize: number, signal?: AbortSignal): Promise<UnfinishedMerge | undefined> {
  await sweepOrphanedMergesOnce().catch(() => undefined);
  const unfinished = await listUnfinishedMerges();
  if (unfinished.length === 0) return undefined;
  const identity = await identifyMerge(plan, { shardSize, toolVersion: TOOL_VERSION }, signal);
  return unfinished.find((merge) => identityDifferences(merge.journal.identity, identity).length === 0);
}
