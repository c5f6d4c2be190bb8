import { labelledInputs, type MergePlan } from "../plan/planMerge.ts";
import type { MERGE_RECORD_FIELDS } from "../recipe/parseRecipeJson.ts";
import { renderRecipeJson } from "../recipe/renderRecipeJson.ts";
import type { WrittenFile } from "../sinks/FolderSink.ts";
import { describeInput } from "./describeInput.ts";
import { pinnedRecipe } from "./pinnedRecipe.ts";

export const RECIPE_FILE_NAME = "merge_recipe.json";


/**
 * merge_recipe.json: the recipe in the contract's format (renderRecipeJson, Hub inputs pinned to
 * their commit), followed by the merge's record (MERGE_RECORD_FIELDS, which parseRecipeJson skips):
 * tool version, date, each input by its label, the output settings and the SHA-256 of every file
 * (the evaluation field is added later, by recordEvaluation of src/eval/report).
 */
export function renderMergeRecipe(
  plan: MergePlan,
  context: { files: Record<string, WrittenFile>; shardSize: number; toolVersion: string; createdAt: Date },
): string {
  const recipe = JSON.parse(renderRecipeJson(pinnedRecipe(plan))) as Record<string, unknown>;
  const record: Record<Exclude<(typeof MERGE_RECORD_FIELDS)[number], "evaluation">, unknown> = {
    tool: { name: "merge-studio", version: context.toolVersion },
    created_at: context.createdAt.toISOString(),
    inputs: Object.fromEntries(labelledInputs(plan.models).map(({ label, value }) => [label, describeInput(value.source)])),
    output: { dtype: plan.recipe.out_dtype ?? "target", shard_size: context.shardSize, vocab: plan.recipe.vocab, tied_embeddings: plan.tiedEmbeddings },
    files: Object.fromEntries(Object.entries(context.files).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  return `${JSON.stringify({ ...recipe, ...record }, null, 2)}\n`;
}
