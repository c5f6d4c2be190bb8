import { TORCH_DTYPE_NAMES } from "../dtypes.ts";
import { quoteName } from "../messages/safeText.ts";
import { DEFAULT_DENSITY, DEFAULT_GAMMA, defaultRecipeParameters, isSettingConditions, VECTOR_SETTINGS, type MergeRecipe, type Setting } from "./MergeRecipe.ts";
import { METHOD_STEPS } from "./TensorRecipe.ts";

/** A recipe as mergekit YAML, with what mergekit computes differently; or why mergekit cannot express it. */
export type MergekitYamlExport = { ok: true; yaml: string; notes: string[] } | { ok: false; reason: string };

/**
 * A number as PyYAML (YAML 1.1, mergekit's reader) reads a float: with a dot, and a signed
 * exponent ("1e-7" would be a string there).
 */
function yamlNumber(value: number): string {
  const text = String(value);
  if (text.includes("e")) return text.includes(".") ? text : text.replace("e", ".0e");
  return Number.isInteger(value) ? `${text}.0` : text;
}

const yamlString = (text: string) => JSON.stringify(text);
const flowNumbers = (values: readonly number[]) => `[${values.map(yamlNumber).join(", ")}]`;

function settingLines(key: string, setting: Setting, indent: string): string[] {
  if (typeof setting === "number") return [`${indent}${key}: ${yamlNumber(setting)}`];
  if (!isSettingConditions(setting)) return [`${indent}${key}: ${flowNumbers(setting)}`];
  const lines = [`${indent}${key}:`];
  for (const { filter, value } of setting) {
    const valueText = typeof value === "number" ? yamlNumber(value) : flowNumbers(value);
    if (filter === undefined) lines.push(`${indent}  - value: ${valueText}`);
    else lines.push(`${indent}  - filter: ${yamlString(filter)}`, `${indent}    value: ${valueText}`);
  }
  return lines;
}

/** Every number a setting can evaluate to at some tensor, or be interpolated between. */
function settingNumbers(setting: Setting): number[] {
  if (typeof setting === "number") return [setting];
  if (!isSettingConditions(setting)) return setting;
  return setting.flatMap(({ value }) => (typeof value === "number" ? [value] : value));
}

/** Where mergekit's code computes this recipe differently from recipe-v2.md (its "Note"). */
function mergekitDifferences(recipe: MergeRecipe): string[] {
  const { sparsification } = METHOD_STEPS[recipe.method];
  const densities = recipe.vectors.flatMap((vector) => settingNumbers(vector.density ?? recipe.parameters.density));
  if (sparsification === "none" || densities.every((density) => density >= 1)) return [];
  if (sparsification === "random") {
    const notes = [`mergekit draws DARE's random keep with torch.bernoulli: the elements it keeps differ from merge-studio's (seed ${recipe.parameters.seed}).`];
    if (recipe.parameters.rescale) notes.push("mergekit's rescale scales each sparsified vector back to its L1 norm, where merge-studio divides kept values by density.");
    return notes;
  }
  if (sparsification === "magnitude") return ["mergekit stops with an error on a tensor where int(density * numel) is 0; merge-studio keeps nothing of that vector there."];
  return ["mergekit's breadcrumbs keeps nothing of a tensor where int(gamma * numel) is 0; merge-studio keeps the density fraction below the top gamma there."];
}

/** The one vector of mergekit's linear form (weights 1, alpha, -alpha), or why the recipe is not that form. */
function linearFormVector(recipe: MergeRecipe): { plus: string; minus: string; weight: number } | string {
  const [vector] = recipe.vectors;
  if (recipe.vectors.length !== 1 || !vector) return `the linear form covers one vector, this recipe has ${recipe.vectors.length}`;
  if (recipe.method !== "task_arithmetic") return `the linear form covers task_arithmetic, not ${recipe.method}`;
  if (typeof vector.weight !== "number") return "the linear form needs the vector's own weight, a number";
  const defaults = defaultRecipeParameters("task_arithmetic");
  const { normalize, rescale, seed, weight, density, gamma } = recipe.parameters;
  if (normalize) return "the linear form needs normalize: false";
  if (vector.density !== undefined || vector.gamma !== undefined || weight !== undefined || rescale !== defaults.rescale || seed !== defaults.seed || density !== DEFAULT_DENSITY || gamma !== DEFAULT_GAMMA) {
    return "the linear form carries the weight only: remove the other settings";
  }
  return { plus: vector.plus, minus: vector.minus, weight: vector.weight };
}

function header(notes: string[]): string[] {
  return [
    "# mergekit config written by merge-studio: the same recipe in mergekit's terms.",
    "# mergekit adds the terms in another order, so its result may differ in the last bit.",
    ...notes.map((note) => `# ${note}`),
  ];
}

function dtypeLines(recipe: MergeRecipe): string[] {
  return recipe.out_dtype ? ["dtype: float32", `out_dtype: ${TORCH_DTYPE_NAMES[recipe.out_dtype]}`] : [];
}

function taskVectorYaml(recipe: MergeRecipe, notes: string[]): string {
  const { parameters } = recipe;
  const lines = [...header(notes), `merge_method: ${recipe.method}`, `base_model: ${yamlString(recipe.target)}`, "models:"];
  for (const vector of recipe.vectors) {
    lines.push(`  - model: ${yamlString(vector.plus)}`);
    const settings = VECTOR_SETTINGS.filter((name) => vector[name] !== undefined);
    if (settings.length > 0) lines.push("    parameters:", ...settings.flatMap((name) => settingLines(name, vector[name]!, "      ")));
  }
  lines.push("parameters:", `  normalize: ${parameters.normalize}`);
  if (!parameters.rescale || METHOD_STEPS[recipe.method].sparsification === "random") lines.push(`  rescale: ${parameters.rescale}`);
  if (parameters.seed !== 0) lines.push(`  seed: ${parameters.seed}`);
  if (parameters.weight !== undefined) lines.push(...settingLines("weight", parameters.weight, "  "));
  if (parameters.density !== DEFAULT_DENSITY) lines.push(...settingLines("density", parameters.density, "  "));
  if (parameters.gamma !== DEFAULT_GAMMA) lines.push(...settingLines("gamma", parameters.gamma, "  "));
  lines.push(...dtypeLines(recipe));
  return `${lines.join("\n")}\n`;
}

function linearYaml(recipe: MergeRecipe, vector: { plus: string; minus: string; weight: number }): string {
  const lines = [
    ...header([]),
    "merge_method: linear",
    "models:",
    `  - model: ${yamlString(recipe.target)}`,
    "    parameters:",
    "      weight: 1.0",
    `  - model: ${yamlString(vector.plus)}`,
    "    parameters:",
    `      weight: ${yamlNumber(vector.weight)}`,
    `  - model: ${yamlString(vector.minus)}`,
    "    parameters:",
    `      weight: ${yamlNumber(-vector.weight)}`,
    "parameters:",
    "  normalize: false",
    ...dtypeLines(recipe),
    `tokenizer_source: ${yamlString(recipe.target)}`,
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The recipe as a mergekit YAML that parseMergekitYaml reads back to the same recipe, where mergekit
 * can express it: every vector's minus is the target (task-vector methods, base_model = target), or
 * one task_arithmetic vector without normalize (`linear` with weights 1, alpha, -alpha). Otherwise
 * `ok: false` with the reason. The notes (also comments in the YAML) say where mergekit's code
 * computes differently from recipe-v2.md. `seed` is written when it is not 0 (mergekit ignores it).
 */
export function renderMergekitYaml(recipe: MergeRecipe): MergekitYamlExport {
  if (recipe.control) return { ok: false, reason: "mergekit has no random_sign control" };
  if (recipe.vocab === "common") return { ok: false, reason: "mergekit cannot merge only the vocabulary rows the models share (vocab: common)" };
  const otherMinus = recipe.vectors.findIndex((vector) => vector.minus !== recipe.target);
  if (otherMinus < 0) {
    const notes = mergekitDifferences(recipe);
    return { ok: true, yaml: taskVectorYaml(recipe, notes), notes };
  }
  const linear = linearFormVector(recipe);
  if (typeof linear !== "string") return { ok: true, yaml: linearYaml(recipe, linear), notes: [] };
  const minus = recipe.vectors[otherMinus]!.minus;
  return {
    ok: false,
    reason: `mergekit's task-vector methods take every vector from one base_model, and vectors[${otherMinus}].minus ${quoteName(minus)} is not the target ${quoteName(recipe.target)}; ${linear}`,
  };
}
