import { isFloatDtype, type Dtype } from "../dtypes.ts";
import { describeJsonValue, quoteName } from "../messages/safeText.ts";
import type { ModelInfo, TensorLocation } from "../model/inspectModel.ts";
import type { MergeRecipe, VocabMode } from "../recipe/MergeRecipe.ts";
import { resolveTensorRecipe } from "../recipe/resolveTensorRecipe.ts";
import type { TensorRecipe } from "../recipe/TensorRecipe.ts";
import { summarizeModel, type ModelSummary } from "./summarizeModel.ts";

/** Something per input of a recipe: the target, and each vector's plus and minus (aligned with recipe.vectors). */
export interface RecipeInputs<T> {
  target: T;
  vectors: { plus: T; minus: T }[];
}

/** Where one term of a tensor is read: the tensors plus_j and minus_j, j = the term's index. */
export interface PlannedTerm {
  plus: TensorLocation;
  minus: TensorLocation;
}

export interface PlannedTensor {
  name: string;
  shape: number[];
  outDtype: Dtype;
  target: TensorLocation;
  /** This tensor's settings as numbers (resolveTensorRecipe); no term left: the tensor is copied. */
  recipe: TensorRecipe;
  /** Aligned with recipe.terms. */
  terms: PlannedTerm[];
  /**
   * Elements [0, mergedElements) are merged; the rest are the target's, converted to outDtype
   * (vocab "common": the first C rows). The magnitude statistics of the contract's step 3 are
   * taken over the merged elements: N = mergedElements.
   */
  mergedElements: number;
}

export interface CompatibilityIssue {
  severity: "error" | "warning" | "info";
  tensor?: string;
  message: string;
}

export interface MergePlan {
  recipe: MergeRecipe;
  models: RecipeInputs<ModelInfo>;
  summaries: RecipeInputs<ModelSummary>;
  tensors: PlannedTensor[];
  issues: CompatibilityIssue[];
  /** False when any issue is an error: such a plan must not be run. */
  ok: boolean;
  /** Whether the output drops lm_head.weight because the target ties it to the embeddings. */
  tiedEmbeddings: boolean;
}

/** One input of a recipe, with the label messages give it. */
export interface LabelledInput<T> {
  label: string;
  value: T;
}

/**
 * How messages name the inputs: `target`, then `plus` / `minus` when the recipe has one vector,
 * `vectors[j].plus` / `vectors[j].minus` (0-based, as the recipe file's paths) otherwise.
 */
export function recipeInputLabel(vectorCount: number, vector: number, side: "plus" | "minus"): string {
  return vectorCount === 1 ? side : `vectors[${vector}].${side}`;
}

/** The inputs in order (target, then plus and minus of each vector), each with its label. */
export function labelledInputs<T>(inputs: RecipeInputs<T>): LabelledInput<T>[] {
  const count = inputs.vectors.length;
  return [
    { label: "target", value: inputs.target },
    ...inputs.vectors.flatMap(({ plus, minus }, j) => [
      { label: recipeInputLabel(count, j, "plus"), value: plus },
      { label: recipeInputLabel(count, j, "minus"), value: minus },
    ]),
  ];
}

/** The same function applied to every input. */
export function mapRecipeInputs<T, U>(inputs: RecipeInputs<T>, map: (value: T) => U): RecipeInputs<U> {
  return { target: map(inputs.target), vectors: inputs.vectors.map(({ plus, minus }) => ({ plus: map(plus), minus: map(minus) })) };
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

/** Labels joined for a sentence: "a", "a and b", "a, b and c". */
function listed(labels: readonly string[]): string {
  return labels.length <= 1 ? (labels[0] ?? "") : `${labels.slice(0, -1).join(", ")} and ${labels.at(-1)}`;
}

/**
 * Decides, from config.json and safetensors headers only, what the merge of `recipe` will do with
 * every tensor of the target, and reports every incompatibility in plain words: config fields,
 * architectures, shapes, dtypes, vocabulary rows (vocab exact / common), tied embeddings and the
 * donors' training set-up, over the target and every vector's plus and minus. Each tensor gets its
 * settings as numbers (resolveTensorRecipe, at the target's num_hidden_layers); a setting that
 * cannot be resolved is an error naming the vector and field. Nothing is read beyond headers.
 */
export function planMerge(models: RecipeInputs<ModelInfo>, recipe: MergeRecipe): MergePlan {
  if (models.vectors.length !== recipe.vectors.length) {
    throw new Error(`internal: ${models.vectors.length} vectors of models for a recipe of ${recipe.vectors.length}`);
  }
  const issues: CompatibilityIssue[] = [];
  const summaryOf = new Map<ModelInfo, ModelSummary>();
  const summaries = mapRecipeInputs(models, (model) => {
    if (!summaryOf.has(model)) summaryOf.set(model, summarizeModel(model));
    return summaryOf.get(model)!;
  });
  const inputs = labelledInputs(models);
  checkConfigs(inputs, labelledInputs(summaries), issues);

  const tiedEmbeddings = summaries.target.tieWordEmbeddings;
  const numHiddenLayers = hiddenLayerCount(models.target);
  const tensors: PlannedTensor[] = [];
  let copiedNonFloat = 0;
  let settingsFailed = false;
  for (const target of models.target.tensors.values()) {
    const { name } = target;
    if (tiedEmbeddings && /(^|\.)lm_head\.weight$/.test(name)) {
      issues.push({ severity: "info", tensor: name, message: `${quoteName(name)} is not written: the target ties it to the input embeddings` });
      continue;
    }
    let recipeHere: TensorRecipe;
    try {
      recipeHere = resolveTensorRecipe(recipe, name, numHiddenLayers);
    } catch (error) {
      if (!settingsFailed) issues.push({ severity: "error", tensor: name, message: `recipe ${(error as Error).message}` });
      settingsFailed = true;
      continue;
    }
    const outDtype: Dtype = isFloatDtype(target.dtype) ? (recipe.out_dtype ?? target.dtype) : target.dtype;
    const copy: PlannedTensor = { name, shape: target.shape, outDtype, target, recipe: { ...recipeHere, terms: [] }, terms: [], mergedElements: 0 };
    const donors = inputs.slice(1).map(({ label, value }) => ({ label, location: value.tensors.get(name) }));
    const missing = donors.filter((donor) => !donor.location).map((donor) => donor.label);
    if (missing.length > 0) {
      issues.push({ severity: "warning", tensor: name, message: `${quoteName(name)} is only in the target (not in ${listed(missing)}): copied unchanged` });
      tensors.push(copy);
      continue;
    }
    if (!isFloatDtype(target.dtype)) {
      copiedNonFloat++;
      tensors.push(copy);
      continue;
    }
    const nonFloat = donors.find((donor) => !isFloatDtype(donor.location!.dtype));
    if (nonFloat) {
      issues.push({ severity: "error", tensor: name, message: `${quoteName(name)}: ${nonFloat.label} stores ${nonFloat.location!.dtype}, target ${target.dtype}: cannot merge` });
      continue;
    }
    const mergedElements = planElements(target, donors as { label: string; location: TensorLocation }[], recipe.vocab, issues);
    if (mergedElements === undefined) continue;
    if (recipeHere.terms.length === 0) {
      tensors.push(copy);
      continue;
    }
    const terms = recipeHere.terms.map(({ index }) => ({ plus: models.vectors[index]!.plus.tensors.get(name)!, minus: models.vectors[index]!.minus.tensors.get(name)! }));
    tensors.push({ ...copy, recipe: recipeHere, terms, mergedElements });
  }
  if (copiedNonFloat > 0) {
    issues.push({ severity: "info", message: `${copiedNonFloat} non-float tensor(s) copied from the target unchanged` });
  }
  const reported = new Set<ModelInfo>([models.target]);
  for (const { label, value: model } of inputs.slice(1)) {
    if (reported.has(model)) continue;
    reported.add(model);
    for (const name of model.tensors.keys()) {
      if (!models.target.tensors.has(name)) {
        issues.push({ severity: "warning", tensor: name, message: `${quoteName(name)} is only in ${label}, not in the target: ignored` });
      }
    }
  }
  return { recipe, models, summaries, tensors, issues, ok: !issues.some((issue) => issue.severity === "error"), tiedEmbeddings };
}

/**
 * L of the contract's layer gradients: the target's num_hidden_layers, or where config.json has
 * none, the layers its tensor names count (model.layers.i.*), at least 1.
 */
function hiddenLayerCount(target: ModelInfo): number {
  const layers = target.config.num_hidden_layers;
  if (typeof layers === "number" && Number.isInteger(layers) && layers > 0) return layers;
  let count = 1;
  for (const name of target.tensors.keys()) {
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer) count = Math.max(count, Number(layer[1]) + 1);
  }
  return count;
}

/** Number of leading elements to merge, or undefined (with an error issue) when shapes disagree. */
function planElements(
  target: TensorLocation,
  donors: readonly { label: string; location: TensorLocation }[],
  vocab: VocabMode,
  issues: CompatibilityIssue[],
): number | undefined {
  const numel = (shape: number[]) => shape.reduce((product, dim) => product * dim, 1);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((dim, i) => dim === b[i]);
  if (donors.every(({ location }) => same(target.shape, location.shape))) return numel(target.shape);
  const { name } = target;
  const shapes = `target [${target.shape.join(", ")}], ${donors.map(({ label, location }) => `${label} [${location.shape.join(", ")}]`).join(", ")}`;
  const rowsDiffer =
    isVocabTensor(name) &&
    donors.every(({ location }) => location.shape.length === target.shape.length && same(location.shape.slice(1), target.shape.slice(1)));
  if (!rowsDiffer) {
    issues.push({ severity: "error", tensor: name, message: `${quoteName(name)}: shapes differ: ${shapes}` });
    return undefined;
  }
  const rows = `target has ${target.shape[0]} rows, ${donors.map(({ label, location }) => `${label} ${location.shape[0]}`).join(", ")}`;
  if (vocab === "exact") {
    issues.push({
      severity: "error",
      tensor: name,
      message: `${quoteName(name)}: vocabulary sizes differ (${rows}); merge the common rows with the vocab option "common"`,
    });
    return undefined;
  }
  const common = Math.min(target.shape[0]!, ...donors.map(({ location }) => location.shape[0]!));
  issues.push({
    severity: "warning",
    tensor: name,
    message: `${quoteName(name)}: vocabulary sizes differ (${rows}); merging the ${common} common rows, the target's other rows copied unchanged`,
  });
  return common * numel(target.shape.slice(1));
}

function checkConfigs(models: readonly LabelledInput<ModelInfo>[], summaries: readonly LabelledInput<ModelSummary>[], issues: CompatibilityIssue[]): void {
  const architecture = summaries[0]!.value.architecture;
  const reportedArchitectures = new Set<string>();
  for (const { label, value } of summaries.slice(1)) {
    if (value.architecture !== architecture && !reportedArchitectures.has(label)) {
      reportedArchitectures.add(label);
      issues.push({ severity: "error", message: `architectures differ: target is ${quoteName(architecture)}, ${label} is ${quoteName(value.architecture)}` });
    }
  }
  const described = (values: unknown[], show: (value: unknown) => string) => models.map(({ label }, i) => `${label} ${show(values[i])}`).join(", ");
  for (const field of CONFIG_FIELDS_THAT_MUST_MATCH) {
    const values = models.map(({ value }) => value.config[field]);
    if (values.every((value) => value === undefined)) continue;
    if (values.some((value) => value !== values[0])) {
      issues.push({ severity: "error", message: `config.json ${field} differs: ${described(values, describeJsonValue)}` });
    }
  }
  checkTrainingSetUp(models, issues);
  const ties = summaries.map(({ value }) => value.tieWordEmbeddings);
  if (ties.some((tie) => tie !== ties[0])) {
    issues.push({ severity: "warning", message: `tie_word_embeddings differs (${described(ties, String)}): the output follows the target` });
  }
}

/**
 * Warns (the merge can still run) where the donors were set up differently from the target in ways
 * the tensors do not show: the RoPE base (`rope_theta`, or transformers 5's
 * `rope_parameters.rope_theta`), the context length, and the chat template. The merged model keeps
 * the target's config and template, e.g. Qwen2.5-1.5B-Instruct (1e6, 32768) with vectors from
 * Qwen2.5-Math-1.5B fine-tunes (1e4, 4096).
 */
function checkTrainingSetUp(models: readonly LabelledInput<ModelInfo>[], issues: CompatibilityIssue[]): void {
  const differing = <T>(valueOf: (model: ModelInfo) => T): T[] | undefined => {
    const values = models.map(({ value }) => valueOf(value));
    return values.every((value) => value === values[0]) ? undefined : values;
  };
  const shown = (value: unknown) => (value === undefined ? "unset" : describeJsonValue(value));
  const described = (values: unknown[]) => models.map(({ label }, i) => `${label} ${shown(values[i])}`).join(", ");
  const consequence = "the merged model keeps the target's";
  const ropeThetas = differing((model) => ropeThetaOf(model.config));
  if (ropeThetas) {
    issues.push({
      severity: "warning",
      message: `RoPE base (rope_theta) differs: ${described(ropeThetas)}; ${consequence}: the task vector was trained with another RoPE base`,
    });
  }
  const contexts = differing((model) => model.config.max_position_embeddings);
  if (contexts) {
    issues.push({ severity: "warning", message: `max_position_embeddings differs: ${described(contexts)}; ${consequence}` });
  }
  if (differing((model) => model.chatTemplate?.text)) {
    const target = models[0]!.value;
    const templates = models.map(({ label, value }, i) => {
      const template = value.chatTemplate;
      const same = i > 0 && template?.text === target.chatTemplate?.text;
      return `${label} ${template === null ? "none" : same ? "the target's" : `from ${template.file}`}`;
    });
    issues.push({
      severity: "warning",
      message: `chat templates differ (${templates.join(", ")}); ${consequence}, and the evaluator prompts each model with its own`,
    });
  }
}

/** The RoPE base as config.json gives it, in either layout; undefined when it gives none. */
function ropeThetaOf(config: Record<string, unknown>): unknown {
  const parameters = config.rope_parameters;
  if (typeof parameters === "object" && parameters !== null && "rope_theta" in parameters) return (parameters as { rope_theta: unknown }).rope_theta;
  return config.rope_theta ?? undefined;
}
