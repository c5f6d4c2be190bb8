import { isFloatDtype, type Dtype, type FloatDtype } from "../dtypes.ts";
import type { MergeMethod, MergeParameters } from "../methods/MergeMethod.ts";
import { describeJsonValue, quoteName } from "../messages/safeText.ts";
import type { ModelInfo, TensorLocation } from "../model/inspectModel.ts";
import { summarizeModel, type ModelSummary } from "./summarizeModel.ts";

/** How embedding / lm_head tensors with different row counts (vocabulary sizes) are handled. */
export type VocabMode = "exact" | "common";

export type Role = "target" | "plus" | "minus";

export interface MergeOptions {
  method: MergeMethod;
  parameters: MergeParameters;
  /** Output dtype of float tensors; default: each tensor's dtype in the target. */
  outDtype?: FloatDtype;
  vocab: VocabMode;
}

export interface PlannedTensor {
  name: string;
  shape: number[];
  outDtype: Dtype;
  target: TensorLocation;
  plus?: TensorLocation;
  minus?: TensorLocation;
  /** Elements [0, mergedElements) are merged; the rest are the target's, converted to outDtype. */
  mergedElements: number;
}

export interface CompatibilityIssue {
  severity: "error" | "warning" | "info";
  tensor?: string;
  message: string;
}

export interface MergePlan {
  models: Record<Role, ModelInfo>;
  summaries: Record<Role, ModelSummary>;
  options: MergeOptions;
  tensors: PlannedTensor[];
  issues: CompatibilityIssue[];
  /** False when any issue is an error: such a plan must not be run. */
  ok: boolean;
  /** Whether the output drops lm_head.weight because the target ties it to the embeddings. */
  tiedEmbeddings: boolean;
}

const CONFIG_FIELDS_THAT_MUST_MATCH = [
  "model_type",
  "num_hidden_layers",
  "hidden_size",
  "intermediate_size",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
] as const;

const isVocabTensor = (name: string) => /(^|\.)(embed_tokens|lm_head|wte|embed_in|embed_out)\.weight$/.test(name);

/**
 * Decides, from config.json and safetensors headers only, what the merge will do with every tensor
 * of the target and reports every incompatibility in plain words. Nothing is read beyond headers.
 */
export function planMerge(models: Record<Role, ModelInfo>, options: MergeOptions): MergePlan {
  const issues: CompatibilityIssue[] = [];
  const summaries = {
    target: summarizeModel(models.target),
    plus: summarizeModel(models.plus),
    minus: summarizeModel(models.minus),
  };
  checkConfigs(models, summaries, issues);
  checkParameters(options, issues);

  const identity = options.method.isIdentity(options.parameters);
  const tiedEmbeddings = summaries.target.tieWordEmbeddings;
  const tensors: PlannedTensor[] = [];
  let copiedNonFloat = 0;
  for (const target of models.target.tensors.values()) {
    const { name } = target;
    if (tiedEmbeddings && /(^|\.)lm_head\.weight$/.test(name)) {
      issues.push({ severity: "info", tensor: name, message: `${quoteName(name)} is not written: the target ties it to the input embeddings` });
      continue;
    }
    const plus = models.plus.tensors.get(name);
    const minus = models.minus.tensors.get(name);
    const outDtype: Dtype = isFloatDtype(target.dtype) ? (options.outDtype ?? target.dtype) : target.dtype;
    const copy: PlannedTensor = { name, shape: target.shape, outDtype, target, mergedElements: 0 };
    if (!plus || !minus) {
      const missing = [!plus && "plus", !minus && "minus"].filter(Boolean).join(" and ");
      issues.push({ severity: "warning", tensor: name, message: `${quoteName(name)} is only in the target (not in ${missing}): copied unchanged` });
      tensors.push(copy);
      continue;
    }
    if (!isFloatDtype(target.dtype)) {
      copiedNonFloat++;
      tensors.push(copy);
      continue;
    }
    const donorProblem = [plus, minus].find((donor) => !isFloatDtype(donor.dtype));
    if (donorProblem) {
      const role = donorProblem === plus ? "plus" : "minus";
      issues.push({ severity: "error", tensor: name, message: `${quoteName(name)}: ${role} stores ${donorProblem.dtype}, target ${target.dtype}: cannot merge` });
      continue;
    }
    const mergedElements = planElements(target, plus, minus, options.vocab, issues);
    if (mergedElements === undefined) continue;
    tensors.push({ ...copy, plus, minus, mergedElements: identity ? 0 : mergedElements });
  }
  if (copiedNonFloat > 0) {
    issues.push({ severity: "info", message: `${copiedNonFloat} non-float tensor(s) copied from the target unchanged` });
  }
  for (const role of ["plus", "minus"] as const) {
    for (const name of models[role].tensors.keys()) {
      if (!models.target.tensors.has(name)) {
        issues.push({ severity: "warning", tensor: name, message: `${quoteName(name)} is only in ${role}, not in the target: ignored` });
      }
    }
  }
  return {
    models,
    summaries,
    options,
    tensors,
    issues,
    ok: !issues.some((issue) => issue.severity === "error"),
    tiedEmbeddings,
  };
}

/** Number of leading elements to merge, or undefined (with an error issue) when shapes disagree. */
function planElements(
  target: TensorLocation,
  plus: TensorLocation,
  minus: TensorLocation,
  vocab: VocabMode,
  issues: CompatibilityIssue[],
): number | undefined {
  const numel = (shape: number[]) => shape.reduce((product, dim) => product * dim, 1);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((dim, i) => dim === b[i]);
  if (same(target.shape, plus.shape) && same(target.shape, minus.shape)) return numel(target.shape);
  const { name } = target;
  const shapes = `target [${target.shape.join(", ")}], plus [${plus.shape.join(", ")}], minus [${minus.shape.join(", ")}]`;
  const rowsDiffer =
    isVocabTensor(name) &&
    [plus, minus].every((donor) => donor.shape.length === target.shape.length && same(donor.shape.slice(1), target.shape.slice(1)));
  if (!rowsDiffer) {
    issues.push({ severity: "error", tensor: name, message: `${quoteName(name)}: shapes differ: ${shapes}` });
    return undefined;
  }
  const rows = `target has ${target.shape[0]} rows, plus ${plus.shape[0]}, minus ${minus.shape[0]}`;
  if (vocab === "exact") {
    issues.push({
      severity: "error",
      tensor: name,
      message: `${quoteName(name)}: vocabulary sizes differ (${rows}); merge the common rows with the vocab option "common"`,
    });
    return undefined;
  }
  const common = Math.min(target.shape[0]!, plus.shape[0]!, minus.shape[0]!);
  issues.push({
    severity: "warning",
    tensor: name,
    message: `${quoteName(name)}: vocabulary sizes differ (${rows}); merging the ${common} common rows, the target's other rows copied unchanged`,
  });
  return common * numel(target.shape.slice(1));
}

function checkConfigs(models: Record<Role, ModelInfo>, summaries: Record<Role, ModelSummary>, issues: CompatibilityIssue[]): void {
  const architecture = summaries.target.architecture;
  for (const role of ["plus", "minus"] as const) {
    if (summaries[role].architecture !== architecture) {
      issues.push({
        severity: "error",
        message: `architectures differ: target is ${quoteName(architecture)}, ${role} is ${quoteName(summaries[role].architecture)}`,
      });
    }
  }
  for (const field of CONFIG_FIELDS_THAT_MUST_MATCH) {
    const values = (["target", "plus", "minus"] as const).map((role) => models[role].config[field]);
    if (values.every((value) => value === undefined)) continue;
    if (values[1] !== values[0] || values[2] !== values[0]) {
      issues.push({
        severity: "error",
        message: `config.json ${field} differs: target ${describeJsonValue(values[0])}, plus ${describeJsonValue(values[1])}, minus ${describeJsonValue(values[2])}`,
      });
    }
  }
  checkTrainingSetUp(models, issues);
  const ties = (["target", "plus", "minus"] as const).map((role) => summaries[role].tieWordEmbeddings);
  if (ties[1] !== ties[0] || ties[2] !== ties[0]) {
    issues.push({
      severity: "warning",
      message: `tie_word_embeddings differs (target ${ties[0]}, plus ${ties[1]}, minus ${ties[2]}): the output follows the target`,
    });
  }
}

/**
 * Parameters are applied in float32 (the numeric contract): a value that rounds to infinity there
 * would write a model of Inf and NaN, so it is refused with the value.
 */
function checkParameters(options: MergeOptions, issues: CompatibilityIssue[]): void {
  for (const parameter of options.method.parameters) {
    const value = options.parameters[parameter.name];
    if (value === undefined) continue;
    if (!Number.isFinite(value)) {
      issues.push({ severity: "error", message: `${parameter.name} ${value} is not a finite number` });
    } else if (!Number.isFinite(Math.fround(value))) {
      issues.push({ severity: "error", message: `${parameter.name} ${value} is too large for float32 (largest about 3.4e38): the merge would be Inf and NaN` });
    }
  }
}

/**
 * Warns (the merge can still run) where the donors were set up differently from the target in ways
 * the tensors do not show: the RoPE base (`rope_theta`, or transformers 5's
 * `rope_parameters.rope_theta`), the context length, and the chat template. The merged model keeps
 * the target's config and template, e.g. Qwen2.5-1.5B-Instruct (1e6, 32768) with vectors from
 * Qwen2.5-Math-1.5B fine-tunes (1e4, 4096).
 */
function checkTrainingSetUp(models: Record<Role, ModelInfo>, issues: CompatibilityIssue[]): void {
  const roles = ["target", "plus", "minus"] as const;
  const differing = <T>(valueOf: (model: ModelInfo) => T): T[] | undefined => {
    const values = roles.map((role) => valueOf(models[role]));
    return values.every((value) => value === values[0]) ? undefined : values;
  };
  const shown = (value: unknown) => (value === undefined ? "unset" : describeJsonValue(value));
  const consequence = "the merged model keeps the target's";
  const ropeThetas = differing((model) => ropeThetaOf(model.config));
  if (ropeThetas) {
    issues.push({
      severity: "warning",
      message: `RoPE base (rope_theta) differs: target ${shown(ropeThetas[0])}, plus ${shown(ropeThetas[1])}, minus ${shown(ropeThetas[2])}; ${consequence}: the task vector was trained with another RoPE base`,
    });
  }
  const contexts = differing((model) => model.config.max_position_embeddings);
  if (contexts) {
    issues.push({
      severity: "warning",
      message: `max_position_embeddings differs: target ${shown(contexts[0])}, plus ${shown(contexts[1])}, minus ${shown(contexts[2])}; ${consequence}`,
    });
  }
  if (differing((model) => model.chatTemplate?.text)) {
    const described = roles.map((role) => {
      const template = models[role].chatTemplate;
      const same = role !== "target" && template?.text === models.target.chatTemplate?.text;
      return `${role} ${template === null ? "none" : same ? "the target's" : `from ${template.file}`}`;
    });
    issues.push({
      severity: "warning",
      message: `chat templates differ (${described.join(", ")}); ${consequence}, and the evaluator prompts each model with its own`,
    });
  }
}

/** The RoPE base as config.json gives it, in either layout; undefined when it gives none. */
function ropeThetaOf(config: Record<string, unknown>): unknown {
  const parameters = config.rope_parameters;
  if (typeof parameters === "object" && parameters !== null && "rope_theta" in parameters) return (parameters as { rope_theta: unknown }).rope_theta;
  return config.rope_theta ?? undefined;
}
