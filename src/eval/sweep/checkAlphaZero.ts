import type { EvalModelDescription } from "../report/buildEvalReport.ts";
import type { EvalModelResult } from "../runGsm8kEvaluation.ts";

/**
 * Alpha 0 scales every vector weight to 0: the merged model is the target's weights, so greedy
 * decoding must give exactly the target's answers. Returns one line per merged model at alpha 0
 * without control whose answers differ from the target's (the problems named), none when they
 * agree or when the run has no such model or no target.
 */
export function checkAlphaZero(models: readonly EvalModelDescription[], results: readonly EvalModelResult[]): string[] {
  const answersOf = (model: EvalModelDescription | undefined) => results.find((result) => result.id === model?.id)?.answers;
  const target = answersOf(models.find((model) => model.kind === "target"));
  if (!target) return [];
  return models
    .filter((model) => model.kind === "merged" && model.alpha === 0 && model.control === null)
    .flatMap((model) => {
      const answers = answersOf(model);
      if (!answers) return [];
      const differing = target
        .filter((expected, position) => {
          const answer = answers[position];
          return !answer || answer.problemIndex !== expected.problemIndex || answer.output !== expected.output || answer.newTokens !== expected.newTokens;
        })
        .map((expected) => `#${expected.problemIndex}`);
      if (differing.length === 0 && answers.length === target.length) return [];
      const rounding = model.recipe?.out_dtype ? ` (the recipe's out_dtype ${model.recipe.out_dtype} rounds the target's weights)` : "";
      const extra = answers.length > target.length ? `${answers.length - target.length} answers more than the target` : "";
      return [`${model.label} must give exactly the target's answers, but differs on ${[differing.join(", "), extra].filter(Boolean).join("; ")}${rounding}`];
    });
}
