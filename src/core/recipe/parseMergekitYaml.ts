import { parseDocument, type Tags } from "yaml";
import { TORCH_DTYPE_NAMES, type FloatDtype } from "../dtypes.ts";
import { describeJsonValue } from "../messages/safeText.ts";
import { defaultRecipeParameters, VECTOR_SETTINGS, type MergeRecipe, type RecipeVector } from "./MergeRecipe.ts";
import { RecipeReader, type ParseRecipeOptions } from "./RecipeReader.ts";
import { RECIPE_METHODS, type RecipeMethodId } from "./TensorRecipe.ts";

/** mergekit's dtype names (its dtype_from_name: bfloat16, float16, float32), a "torch." prefix allowed. */
const MERGEKIT_DTYPES = new Map(Object.entries(TORCH_DTYPE_NAMES).map(([dtype, name]) => [name, dtype as FloatDtype]));

const TOP_FIELDS = ["merge_method", "base_model", "models", "parameters", "dtype", "out_dtype", "tokenizer_source"];
const REFUSED_TOP_FIELDS: Record<string, string> = {
  slices: "slices are not supported: merge-studio merges whole models (list them under models)",
  modules: "modules are not supported: merge-studio merges whole models (list them under models)",
  tokenizer: "not supported: the output keeps the base model's tokenizer (tokenizer_source: base)",
  chat_template: "not supported: the output keeps the base model's chat template",
};
/** int8_mask only changes the dtype of mergekit's sign mask, not the result: read and ignored. seed: merge-studio's DARE seed. */
const PARAMETER_FIELDS = ["normalize", "rescale", "seed", "int8_mask", ...VECTOR_SETTINGS];
const LINEAR_FORM = "linear is read only in the reasoning-vector form: three models weighted 1 (target), a (plus), -a (minus), with normalize: false";

/** PyYAML, mergekit's reader, takes YAML 1.1's booleans except y / n (a model named "y" stays a string). */
const PYYAML_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const PYYAML_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;
const withPyyamlBooleans = (tags: Tags): Tags =>
  tags.map((tag) => (typeof tag === "object" && tag.tag === "tag:yaml.org,2002:bool" && tag.test ? { ...tag, test: tag.test.test("true") ? PYYAML_TRUE : PYYAML_FALSE } : tag));

/** One entry of `models`, its name as written. */
interface ModelEntry {
  name: string;
  path: string;
  parameters: Record<string, unknown>;
}

function readYaml(reader: RecipeReader, text: string): unknown {
  let problem: string | undefined;
  let value: unknown;
  try {
    // YAML 1.1, as mergekit's PyYAML reads it (yes/no are booleans).
    const document = parseDocument(text, { version: "1.1", customTags: withPyyamlBooleans });
    const [first] = [...document.errors, ...document.warnings];
    if (first) problem = first.message;
    else value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  if (problem !== undefined) reader.fail("", `not valid YAML: ${problem.split("\n")[0]}`);
  return value;
}

function modelName(reader: RecipeReader, value: unknown, path: string): string {
  const name = reader.string(value, path);
  if (name.includes("+")) reader.fail(path, `${describeJsonValue(name)}: LoRA adapters (model+lora) are not supported`);
  return name;
}

function readDtype(reader: RecipeReader, value: unknown, path: string): FloatDtype {
  const name = reader.string(value, path).replace(/^torch\./, "");
  const dtype = MERGEKIT_DTYPES.get(name);
  if (!dtype) reader.fail(path, `${describeJsonValue(value)} is not bfloat16, float16 or float32`);
  return dtype;
}

function readModels(reader: RecipeReader, value: unknown, settings: readonly string[]): ModelEntry[] {
  const list = reader.list(value, "models");
  if (list.length === 0) reader.fail("models", "empty: list the models to merge");
  const entries = list.map((entry, i): ModelEntry => {
    const path = `models[${i}]`;
    const fields = reader.object(entry, path, ["model", "parameters"]);
    const name = modelName(reader, reader.required(fields, "model", path, "a Hub id or a folder"), `${path}.model`);
    const parameters = fields.parameters === undefined ? {} : reader.object(fields.parameters, `${path}.parameters`, settings);
    return { name, path, parameters };
  });
  entries.forEach((entry, i) => {
    const first = entries.findIndex(({ name }) => name === entry.name);
    if (first < i) reader.fail(`${entry.path}.model`, `${describeJsonValue(entry.name)} is listed twice (also models[${first}])`);
  });
  return entries;
}

/** merge_method linear in the reasoning-vector form: target + a * (plus - minus), one task_arithmetic vector. */
function readLinearForm(reader: RecipeReader, fields: Record<string, unknown>, entries: ModelEntry[]): Omit<MergeRecipe, "vocab"> {
  if (entries.length !== 3) reader.fail("models", `${entries.length} models: ${LINEAR_FORM}`);
  const weights = entries.map(({ parameters, path }) => {
    const at = `${path}.parameters.weight`;
    const weight = reader.setting(reader.required(parameters, "weight", `${path}.parameters`, "a number"), at, "weight");
    if (typeof weight !== "number") reader.fail(at, `not a number: ${LINEAR_FORM}`);
    return weight;
  });
  const [target, plus, minus] = entries as [ModelEntry, ModelEntry, ModelEntry];
  const [targetWeight, alpha, minusWeight] = weights as [number, number, number];
  if (targetWeight !== 1) reader.fail(`${target.path}.parameters.weight`, `${targetWeight} is not 1: ${LINEAR_FORM}`);
  if (minusWeight !== -alpha) reader.fail(`${minus.path}.parameters.weight`, `${minusWeight} is not -(${alpha}): ${LINEAR_FORM}`);
  const parameters = reader.object(fields.parameters ?? {}, "parameters", ["normalize"]);
  if (parameters.normalize !== false) reader.fail("parameters.normalize", `must be false (mergekit's linear normalizes by default): ${LINEAR_FORM}`);
  if (fields.base_model !== undefined && fields.base_model !== target.name) {
    reader.fail("base_model", `${describeJsonValue(fields.base_model)} is not the first model: ${LINEAR_FORM}`);
  }
  return {
    target: reader.model(target.name, `${target.path}.model`),
    method: "task_arithmetic",
    parameters: { ...defaultRecipeParameters("task_arithmetic"), normalize: false },
    vectors: [{ plus: reader.model(plus.name, `${plus.path}.model`), minus: reader.model(minus.name, `${minus.path}.model`), weight: alpha }],
  };
}

/** The task-vector family: target = base_model, one vector (plus = model, minus = base_model) per other model. */
function readTaskVectors(reader: RecipeReader, fields: Record<string, unknown>, method: RecipeMethodId, entries: ModelEntry[]): Omit<MergeRecipe, "vocab"> {
  const baseName = modelName(reader, reader.required(fields, "base_model", "", "the model the task vectors are taken from"), "base_model");
  const parameterFields = reader.object(fields.parameters ?? {}, "parameters", PARAMETER_FIELDS);
  if (parameterFields.int8_mask !== undefined) reader.boolean(parameterFields.int8_mask, "parameters.int8_mask");
  const parameters = reader.parameters(parameterFields, "parameters", method);
  const base = reader.model(baseName, "base_model");
  const donors = entries.filter(({ name }) => name !== baseName);
  if (donors.length === 0) reader.fail("models", "every model listed is the base_model: there is no task vector");
  const vectors = donors.map(({ name, path, parameters: settings }): RecipeVector => {
    const vector: RecipeVector = { plus: reader.model(name, `${path}.model`), minus: base };
    for (const setting of VECTOR_SETTINGS) {
      if (settings[setting] !== undefined) vector[setting] = reader.setting(settings[setting], `${path}.parameters.${setting}`, setting);
    }
    return vector;
  });
  reader.checkVectorWeights({ parameters, vectors }, (i) => `${donors[i]!.path}.parameters`);
  return { target: base, method, parameters, vectors };
}

/**
 * Reads a mergekit YAML of the task-vector family (recipe-v2.md, "The recipe file"): base_model B,
 * models [{model, parameters {weight, density, gamma}}], merge_method one of the recipe methods,
 * parameters (normalize, rescale, settings as defaults; int8_mask ignored; seed: merge-studio's
 * DARE seed), dtype / out_dtype (out_dtype wins), tokenizer_source base. It means target = B and
 * one vector (plus = model, minus = B) per model other than B. `linear` is read in the
 * reasoning-vector form only. Anything else is refused in one line naming the field.
 */
export function parseMergekitYaml(text: string, source: string, options: ParseRecipeOptions = {}): MergeRecipe {
  const reader = new RecipeReader(source, options.resolveModelPath);
  const fields = reader.object(readYaml(reader, text), "", TOP_FIELDS, REFUSED_TOP_FIELDS);
  const methodName = reader.required(fields, "merge_method", "", `${RECIPE_METHODS.join(", ")} or linear`);
  const method = RECIPE_METHODS.find((id) => id === methodName);
  if (!method && methodName !== "linear") {
    reader.fail("merge_method", `${describeJsonValue(methodName)} is not supported (supported: ${RECIPE_METHODS.join(", ")}, and linear in the reasoning-vector form)`);
  }
  const entries = readModels(reader, reader.required(fields, "models", "", "a list of {model, parameters}"), method ? VECTOR_SETTINGS : ["weight"]);
  const recipe: MergeRecipe = { ...(method ? readTaskVectors(reader, fields, method, entries) : readLinearForm(reader, fields, entries)), vocab: "exact" };
  const tokenizerSource = fields.tokenizer_source;
  const baseName = method ? fields.base_model : entries[0]!.name;
  if (tokenizerSource !== undefined && tokenizerSource !== "base" && tokenizerSource !== baseName) {
    reader.fail("tokenizer_source", `${describeJsonValue(tokenizerSource)}: only the base model's tokenizer is supported (tokenizer_source: base)`);
  }
  if (fields.dtype !== undefined) recipe.out_dtype = readDtype(reader, fields.dtype, "dtype");
  if (fields.out_dtype !== undefined) recipe.out_dtype = readDtype(reader, fields.out_dtype, "out_dtype");
  return recipe;
}
