import { TOOL_VERSION } from "../../core/version.ts";
import { buildEvalReport } from "../../eval/report/buildEvalReport.ts";
import type { EvalReport } from "../../eval/report/EvalReport.ts";
import type { EvalRunData } from "./evalSlice.ts";

/**
 * The EvalReport of a run's finished models (every problem answered and the model's run figures
 * in): all of them once the run is done, those so far while it runs. buildEvalReport computes the
 * scores, the comparisons with the target and the Holm adjustment over those models.
 */
export function studioEvalReport(data: EvalRunData, finishedAt: Date): EvalReport {
  const { problems, models, answers, runs, settings } = data;
  const finished = models.filter((model) => runs[model.id] !== undefined && answers[model.id]?.length === problems.length);
  const [firstRun] = finished.map((model) => runs[model.id]!);
  return buildEvalReport({
    finishedAt,
    evaluator: {
      version: TOOL_VERSION,
      runtime: `onnxruntime-web ${settings.provider}`,
      format: settings.format,
      batchSize: firstRun?.batchSize ?? 0,
      maxNewTokens: settings.maxNewTokens,
      greedy: true,
      chatTemplate: data.chatTemplate,
    },
    task: data.task,
    models: finished,
    results: finished.map((model) => ({ id: model.id, answers: answers[model.id]!, run: runs[model.id]! })),
  });
}
