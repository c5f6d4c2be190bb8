import { parseJsonLimited } from "../../core/json/parseJsonLimited.ts";
import { describeJsonValue } from "../../core/messages/safeText.ts";
import { RecipeReader } from "../../core/recipe/RecipeReader.ts";
import {
  EVAL_REPORT_SCHEMA,
  type AnswerRecord,
  type EvalReport,
  type EvaluatedModel,
  type EvaluatedTask,
  type EvaluatorSettings,
  type MetricScore,
  type RunFigures,
  type TargetComparison,
} from "./EvalReport.ts";

const MODEL_KINDS = ["target", "merged", "plus", "minus"] as const;
const CONTROLS = ["reversed", "random-sign"] as const;
const STOP_REASONS = ["eos", "stop_sequence", "max_new_tokens"] as const;

/**
 * Reads an evaluation report (EvalReport.ts, `merge-studio eval --json`): strict JSON, every field
 * the card and merge_recipe.json use checked, and the models consistent with the task (one score
 * per metric, one answer per problem). Errors are one line, `SOURCE: FIELD.PATH: what is wrong`.
 */
export function readEvalReport(text: string, source: string): EvalReport {
  let value: unknown;
  try {
    value = parseJsonLimited(text);
  } catch (error) {
    throw new Error(`${source}: not a JSON evaluation report: ${(error as Error).message}`);
  }
  return new EvalReportReader(source).report(value);
}

class EvalReportReader {
  private readonly reader: RecipeReader;

  constructor(source: string) {
    this.reader = new RecipeReader(source);
  }

  report(value: unknown): EvalReport {
    const fields = this.fields(value, "", ["schema", "createdAt", "evaluator", "task", "models"]);
    if (fields.schema !== EVAL_REPORT_SCHEMA) this.reader.fail("schema", `${describeJsonValue(fields.schema)} is not "${EVAL_REPORT_SCHEMA}"`);
    const task = this.task(fields.task);
    const models = this.reader.list(fields.models, "models").map((model, index) => this.model(model, `models[${index}]`, task));
    if (models.length === 0) this.reader.fail("models", "empty: the report evaluated no model");
    return { schema: EVAL_REPORT_SCHEMA, createdAt: this.reader.string(fields.createdAt, "createdAt"), evaluator: this.evaluator(fields.evaluator), task, models };
  }

  /** An object holding every one of `keys` (and no other). */
  private fields(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
    const fields = this.reader.object(value, path, keys);
    for (const key of keys) this.reader.required(fields, key, path, "see EvalReport.ts");
    return fields;
  }

  private number(value: unknown, path: string, { integer = false, min = -Infinity, max = Infinity } = {}): number {
    if (typeof value !== "number" || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
      const range = `${min === -Infinity ? "" : ` from ${min}`}${max === Infinity ? "" : ` to ${max}`}`;
      this.reader.fail(path, `${describeJsonValue(value)} is not ${integer ? "an integer" : "a finite number"}${range}`);
    }
    return value;
  }

  private oneOf<T extends string>(value: unknown, path: string, known: readonly T[]): T {
    const found = known.find((entry) => entry === value);
    if (found === undefined) this.reader.fail(path, `${describeJsonValue(value)} is not one of ${known.join(", ")}`);
    return found;
  }

  private evaluator(value: unknown): EvaluatorSettings {
    const fields = this.fields(value, "evaluator", ["version", "runtime", "format", "batchSize", "maxNewTokens", "greedy", "chatTemplate"]);
    return {
      version: this.reader.string(fields.version, "evaluator.version"),
      runtime: this.reader.string(fields.runtime, "evaluator.runtime"),
      format: this.reader.string(fields.format, "evaluator.format"),
      batchSize: this.number(fields.batchSize, "evaluator.batchSize", { integer: true, min: 1 }),
      maxNewTokens: this.number(fields.maxNewTokens, "evaluator.maxNewTokens", { integer: true, min: 1 }),
      greedy: this.reader.boolean(fields.greedy, "evaluator.greedy"),
      chatTemplate: this.reader.boolean(fields.chatTemplate, "evaluator.chatTemplate"),
    };
  }

  private task(value: unknown): EvaluatedTask {
    const fields = this.fields(value, "task", ["name", "promptFormat", "fewShot", "dataset", "problemIndices", "sampleSeed", "metrics"]);
    const metrics = this.reader.list(fields.metrics, "task.metrics").map((metric, index) => this.reader.string(metric, `task.metrics[${index}]`));
    if (metrics.length === 0) this.reader.fail("task.metrics", "empty: a task scores at least one metric");
    const problemIndices = this.reader.list(fields.problemIndices, "task.problemIndices").map((index, position) => this.number(index, `task.problemIndices[${position}]`, { integer: true, min: 0 }));
    if (problemIndices.length === 0) this.reader.fail("task.problemIndices", "empty: the run answered no problem");
    if (new Set(problemIndices).size !== problemIndices.length) this.reader.fail("task.problemIndices", "a problem is listed twice");
    return {
      name: this.reader.string(fields.name, "task.name"),
      promptFormat: this.reader.string(fields.promptFormat, "task.promptFormat"),
      fewShot: this.number(fields.fewShot, "task.fewShot", { integer: true, min: 0 }),
      dataset: this.dataset(fields.dataset),
      problemIndices,
      sampleSeed: fields.sampleSeed === null ? null : this.number(fields.sampleSeed, "task.sampleSeed", { integer: true, min: 0, max: 0xffffffff }),
      metrics,
    };
  }

  private dataset(value: unknown): EvaluatedTask["dataset"] {
    const kind = this.reader.object(value, "task.dataset", ["kind", "id", "config", "split", "name", "sha256"]).kind;
    if (kind === "hub") {
      const fields = this.fields(value, "task.dataset", ["kind", "id", "config", "split"]);
      return { kind, id: this.reader.string(fields.id, "task.dataset.id"), config: this.reader.string(fields.config, "task.dataset.config"), split: this.reader.string(fields.split, "task.dataset.split") };
    }
    if (kind === "file") {
      const fields = this.fields(value, "task.dataset", ["kind", "name", "sha256"]);
      return { kind, name: this.reader.string(fields.name, "task.dataset.name"), sha256: this.reader.string(fields.sha256, "task.dataset.sha256") };
    }
    return this.reader.fail("task.dataset.kind", `${describeJsonValue(kind)} is not "hub" or "file"`);
  }

  private model(value: unknown, path: string, task: EvaluatedTask): EvaluatedModel {
    const fields = this.fields(value, path, ["label", "kind", "alpha", "control", "recipe", "scores", "comparison", "run", "answers"]);
    const scores = this.reader.list(fields.scores, `${path}.scores`).map((score, index) => this.score(score, `${path}.scores[${index}]`));
    const metrics = scores.map((score) => score.metric);
    if (metrics.join("\n") !== task.metrics.join("\n")) this.reader.fail(`${path}.scores`, `scores ${metrics.join(", ") || "nothing"}, not the task's metrics ${task.metrics.join(", ")} in that order`);
    for (const [index, score] of scores.entries()) {
      if (score.total !== task.problemIndices.length) this.reader.fail(`${path}.scores[${index}].total`, `${score.total}, but the task lists ${task.problemIndices.length} problems`);
    }
    const answers = this.reader.list(fields.answers, `${path}.answers`).map((answer, index) => this.answer(answer, `${path}.answers[${index}]`, task.metrics.length));
    if (answers.map((answer) => answer.problemIndex).join() !== task.problemIndices.join()) this.reader.fail(`${path}.answers`, "the answers are not one per problem of task.problemIndices, in its order");
    for (const [index, score] of scores.entries()) {
      const correct = answers.filter((answer) => answer.scores[index]!.correct).length;
      if (correct !== score.correct) this.reader.fail(`${path}.scores[${index}].correct`, `${score.correct}, but ${correct} of the answers are right on ${score.metric}`);
    }
    return {
      label: this.reader.string(fields.label, `${path}.label`),
      kind: this.oneOf(fields.kind, `${path}.kind`, MODEL_KINDS),
      alpha: fields.alpha === null ? null : this.number(fields.alpha, `${path}.alpha`),
      control: fields.control === null ? null : this.oneOf(fields.control, `${path}.control`, CONTROLS),
      recipe: fields.recipe,
      scores,
      comparison: fields.comparison === null ? null : this.comparison(fields.comparison, `${path}.comparison`),
      run: this.run(fields.run, `${path}.run`),
      answers,
    };
  }

  private score(value: unknown, path: string): MetricScore {
    const fields = this.fields(value, path, ["metric", "correct", "total", "accuracy", "low", "high"]);
    const total = this.number(fields.total, `${path}.total`, { integer: true, min: 1 });
    return {
      metric: this.reader.string(fields.metric, `${path}.metric`),
      correct: this.number(fields.correct, `${path}.correct`, { integer: true, min: 0, max: total }),
      total,
      accuracy: this.number(fields.accuracy, `${path}.accuracy`, { min: 0, max: 1 }),
      low: this.number(fields.low, `${path}.low`, { min: 0, max: 1 }),
      high: this.number(fields.high, `${path}.high`, { min: 0, max: 1 }),
    };
  }

  private comparison(value: unknown, path: string): TargetComparison {
    const fields = this.fields(value, path, ["fixed", "broken", "pValue", "holmPValue"]);
    return {
      fixed: this.number(fields.fixed, `${path}.fixed`, { integer: true, min: 0 }),
      broken: this.number(fields.broken, `${path}.broken`, { integer: true, min: 0 }),
      pValue: this.number(fields.pValue, `${path}.pValue`, { min: 0, max: 1 }),
      holmPValue: this.number(fields.holmPValue, `${path}.holmPValue`, { min: 0, max: 1 }),
    };
  }

  private run(value: unknown, path: string): RunFigures {
    const fields = this.fields(value, path, ["loadSeconds", "answerSeconds", "newTokens", "tokensPerSecond"]);
    return {
      loadSeconds: this.number(fields.loadSeconds, `${path}.loadSeconds`, { min: 0 }),
      answerSeconds: this.number(fields.answerSeconds, `${path}.answerSeconds`, { min: 0 }),
      newTokens: this.number(fields.newTokens, `${path}.newTokens`, { integer: true, min: 0 }),
      tokensPerSecond: this.number(fields.tokensPerSecond, `${path}.tokensPerSecond`, { min: 0 }),
    };
  }

  private answer(value: unknown, path: string, metricCount: number): AnswerRecord {
    const fields = this.fields(value, path, ["problemIndex", "output", "newTokens", "stopReason", "scores"]);
    const scores = this.reader.list(fields.scores, `${path}.scores`).map((score, index) => {
      const scorePath = `${path}.scores[${index}]`;
      const entry = this.fields(score, scorePath, ["extracted", "correct"]);
      return { extracted: entry.extracted === null ? null : this.reader.string(entry.extracted, `${scorePath}.extracted`), correct: this.reader.boolean(entry.correct, `${scorePath}.correct`) };
    });
    if (scores.length !== metricCount) this.reader.fail(`${path}.scores`, `${scores.length} scores, but the task has ${metricCount} metrics`);
    return {
      problemIndex: this.number(fields.problemIndex, `${path}.problemIndex`, { integer: true, min: 0 }),
      output: this.reader.string(fields.output, `${path}.output`),
      newTokens: this.number(fields.newTokens, `${path}.newTokens`, { integer: true, min: 0 }),
      stopReason: this.oneOf(fields.stopReason, `${path}.stopReason`, STOP_REASONS),
      scores,
    };
  }
}
