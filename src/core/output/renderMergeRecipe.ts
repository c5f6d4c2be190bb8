import type { MergePlan } from "../plan/planMerge.ts";
import type { WrittenFile } from "../sinks/FolderSink.ts";
import { describeInput } from "./describeInput.ts";

export const RECIPE_FILE_NAME = "merge_recipe.json";

/** merge_recipe.json: everything needed to reproduce and verify the merge. */
export function renderMergeRecipe(
  plan: MergePlan,
  context: { files: Record<string, WrittenFile>; shardSize: number; toolVersion: string; createdAt: Date },
): string {
  const { method, parameters, outDtype, vocab } = plan.options;
  const recipe = {
    tool: { name: "merge-studio", version: context.toolVersion },
    created_at: context.createdAt.toISOString(),
    method: method.id,
    formula: method.formula,
    parameters,
    parameters_float32: Object.fromEntries(Object.entries(parameters).map(([key, value]) => [key, Math.fround(value)])),
    inputs: {
      target: describeInput(plan.models.target.source),
      plus: describeInput(plan.models.plus.source),
      minus: describeInput(plan.models.minus.source),
    },
    output: { dtype: outDtype ?? "target", shard_size: context.shardSize, vocab, tied_embeddings: plan.tiedEmbeddings },
    files: Object.fromEntries(Object.entries(context.files).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  return `${JSON.stringify(recipe, null, 2)}\n`;
}
