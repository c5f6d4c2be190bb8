import { parseJsonLimited } from "../json/parseJsonLimited.ts";
import { describeJsonValue } from "../messages/safeText.ts";
import { VECTOR_SETTINGS, type MergeRecipe, type RandomSignControl, type RecipeVector, type VocabMode } from "./MergeRecipe.ts";
import { RecipeReader, type ParseRecipeOptions } from "./RecipeReader.ts";
import { RECIPE_METHODS, type RecipeMethodId } from "./TensorRecipe.ts";

/**
 * The fields merge_recipe.json adds after the recipe (what the merge wrote: tool, date, inputs,
 * output, files; and, once recorded, the evaluation), skipped when read back, so that
 * `merge --config OUT/merge_recipe.json` merges again.
 */
export const MERGE_RECORD_FIELDS = ["tool", "created_at", "inputs", "output", "files", "evaluation"] as const;

const RECIPE_FIELDS = ["target", "method", "parameters", "vectors", "control", "out_dtype", "vocab"];

/** The file's value without the fields of a merge's record. */
function withoutMergeRecord(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !(MERGE_RECORD_FIELDS as readonly string[]).includes(key)));
}
const PARAMETER_FIELDS = ["normalize", "rescale", "seed", ...VECTOR_SETTINGS];
const VECTOR_FIELDS = ["plus", "minus", ...VECTOR_SETTINGS];

/** A recipe method id, or a one-line error naming the known ones. */
function readRecipeMethod(reader: RecipeReader, value: unknown, path: string): RecipeMethodId {
  const method = RECIPE_METHODS.find((id) => id === value);
  if (!method) reader.fail(path, `unknown method ${describeJsonValue(value)} (known: ${RECIPE_METHODS.join(", ")})`);
  return method;
}

function readVector(reader: RecipeReader, value: unknown, path: string): RecipeVector {
  const fields = reader.object(value, path, VECTOR_FIELDS);
  const vector: RecipeVector = {
    plus: reader.model(reader.required(fields, "plus", path, "a Hub id or a folder"), `${path}.plus`),
    minus: reader.model(reader.required(fields, "minus", path, "a Hub id or a folder"), `${path}.minus`),
  };
  for (const name of VECTOR_SETTINGS) {
    if (fields[name] !== undefined) vector[name] = reader.setting(fields[name], `${path}.${name}`, name);
  }
  return vector;
}

function readControl(reader: RecipeReader, value: unknown): RandomSignControl {
  const fields = reader.object(value, "control", ["kind", "seed"]);
  const kind = reader.required(fields, "kind", "control", '"random_sign"');
  if (kind !== "random_sign") reader.fail("control.kind", `unknown control ${describeJsonValue(kind)} (known: random_sign)`);
  return { kind, seed: fields.seed === undefined ? 0 : reader.seed(fields.seed, "control.seed") };
}

/** `exact` (or `error`, read the same) or `common`. */
function readVocabMode(reader: RecipeReader, value: unknown, path: string): VocabMode {
  if (value === "exact" || value === "error") return "exact";
  if (value === "common") return "common";
  return reader.fail(path, `${describeJsonValue(value)} is not "exact" or "common"`);
}

/**
 * Reads a recipe file (../shared/recipe-v2.md, "The recipe file"): strict JSON, every field checked,
 * unknown fields refused; `source` (the file's name) starts every error. Defaults are filled in, so
 * the result is the canonical recipe that renderRecipeJson writes back.
 */
export function parseRecipeJson(text: string, source: string, options: ParseRecipeOptions = {}): MergeRecipe {
  const reader = new RecipeReader(source, options.resolveModelPath);
  let value: unknown;
  try {
    value = parseJsonLimited(text);
  } catch (error) {
    return reader.fail("", (error as Error).message);
  }
  const fields = reader.object(withoutMergeRecord(value), "", RECIPE_FIELDS);
  const target = reader.model(reader.required(fields, "target", "", "a Hub id or a folder"), "target");
  const method = readRecipeMethod(reader, reader.required(fields, "method", "", RECIPE_METHODS.join(", ")), "method");
  const parameters = reader.parameters(fields.parameters === undefined ? {} : reader.object(fields.parameters, "parameters", PARAMETER_FIELDS), "parameters", method);
  const vectorList = reader.list(reader.required(fields, "vectors", "", "a list of {plus, minus, weight}"), "vectors");
  if (vectorList.length === 0) reader.fail("vectors", "empty: give at least one {plus, minus, weight}");
  const vectors = vectorList.map((vector, i) => readVector(reader, vector, `vectors[${i}]`));
  const recipe: MergeRecipe = { target, method, parameters, vectors, vocab: fields.vocab === undefined ? "exact" : readVocabMode(reader, fields.vocab, "vocab") };
  reader.checkVectorWeights(recipe, (i) => `vectors[${i}]`);
  if (fields.control !== undefined) recipe.control = readControl(reader, fields.control);
  if (fields.out_dtype !== undefined) recipe.out_dtype = reader.floatDtype(fields.out_dtype, "out_dtype");
  return recipe;
}
