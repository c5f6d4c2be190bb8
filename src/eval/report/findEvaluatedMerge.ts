import { quoteName } from "../../core/messages/safeText.ts";
import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import { renderRecipeJson } from "../../core/recipe/renderRecipeJson.ts";
import type { EvalReport, EvaluatedModel } from "./EvalReport.ts";

/** The report's entry for a merge, and its target's when the target ran. */
export interface EvaluatedMerge {
  merge: EvaluatedModel;
  target: EvaluatedModel | null;
}

/**
 * The model of `report` computed from exactly `recipe` (the canonical recipe JSON of both equal:
 * the same inputs, pinned revisions included, the same method, settings and weights), and the
 * report's target. A report without such a model throws, naming the recipes it does hold and
 * where each differs, so that the results of one merge never land in another merge's card.
 */
export function findEvaluatedMerge(report: EvalReport, recipe: MergeRecipe, source: string): EvaluatedMerge {
  const wanted = canonicalFields(renderRecipeJson(recipe));
  const candidates = report.models.flatMap((model, index) => {
    if (model.recipe === null) return [];
    const text = typeof model.recipe === "string" ? model.recipe : JSON.stringify(model.recipe);
    const fields = canonicalFields(renderRecipeJson(parseRecipeJson(text, `${source}: models[${index}].recipe`)));
    const differing = Object.keys({ ...wanted, ...fields }).filter((key) => wanted[key] !== fields[key]);
    return [{ model, differing }];
  });
  const match = candidates.find((candidate) => candidate.differing.length === 0);
  if (!match) {
    const held = candidates.map(({ model, differing }) => `${quoteName(model.label)} differs in ${differing.join(", ")}`);
    throw new Error(`${source} holds no evaluation of this merge's recipe (compared as canonical recipe JSON): ${held.length === 0 ? "it evaluated no merged model" : held.join("; ")}`);
  }
  return { merge: match.model, target: report.models.find((model) => model.kind === "target") ?? null };
}

/** A canonical recipe JSON's top-level fields, each as its JSON text. */
function canonicalFields(json: string): Record<string, string> {
  return Object.fromEntries(Object.entries(JSON.parse(json) as Record<string, unknown>).map(([key, value]) => [key, JSON.stringify(value)]));
}
