import { isSettingConditions, VECTOR_SETTINGS, type MergeRecipe, type Setting, type VectorSettingName } from "./MergeRecipe.ts";

/** A setting with its conditions' keys in a fixed order (filter, value). */
function canonicalSetting(setting: Setting): Setting {
  if (!isSettingConditions(setting)) return setting;
  return setting.map(({ filter, value }) => (filter === undefined ? { value } : { filter, value }));
}

/** `fields`, then the settings that are set, in the order weight, density, gamma. */
function withSettings(fields: Record<string, unknown>, settings: Partial<Record<VectorSettingName, Setting>>): Record<string, unknown> {
  const result = { ...fields };
  for (const name of VECTOR_SETTINGS) {
    const setting = settings[name];
    if (setting !== undefined) result[name] = canonicalSetting(setting);
  }
  return result;
}

/**
 * The canonical JSON of a recipe, as written into every output's merge_recipe.json: keys in the
 * contract's order, every default written out (parameters normalize, rescale, seed, density, gamma;
 * vocab), optional parts (control, out_dtype, a default weight) only when set. parseRecipeJson
 * reads it back to an equal recipe, and rendering that again gives the same text.
 */
export function renderRecipeJson(recipe: MergeRecipe): string {
  const { normalize, rescale, seed } = recipe.parameters;
  const canonical = {
    target: recipe.target,
    method: recipe.method,
    parameters: withSettings({ normalize, rescale, seed }, recipe.parameters),
    vectors: recipe.vectors.map((vector) => withSettings({ plus: vector.plus, minus: vector.minus }, vector)),
    ...(recipe.control ? { control: { kind: recipe.control.kind, seed: recipe.control.seed } } : {}),
    ...(recipe.out_dtype ? { out_dtype: recipe.out_dtype.toLowerCase() } : {}),
    vocab: recipe.vocab,
  };
  return `${JSON.stringify(canonical, null, 2)}\n`;
}
