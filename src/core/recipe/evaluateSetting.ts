import { quoteName } from "../messages/safeText.ts";
import { isSettingConditions, type Setting } from "./MergeRecipe.ts";

const LAYER_TENSOR = /^model\.layers\.(\d+)\./;

/**
 * The position t in [0, 1] at which a gradient is read for a tensor (recipe-v2.md, "Settings per
 * tensor"): 0 before the layers (model.embed_tokens.*) and for names the contract does not place,
 * i / (L - 1) for model.layers.i.* (1 when L = 1), 1 after them (model.norm.*, lm_head.*).
 */
export function tensorPosition(tensorName: string, numHiddenLayers: number): number {
  if (!Number.isInteger(numHiddenLayers) || numHiddenLayers < 1) throw new Error(`num_hidden_layers ${numHiddenLayers} is not a positive integer`);
  const layer = LAYER_TENSOR.exec(tensorName);
  if (layer) {
    const index = Number(layer[1]);
    if (index >= numHiddenLayers) throw new Error(`tensor ${quoteName(tensorName)}: layer ${index} is outside num_hidden_layers ${numHiddenLayers}`);
    return numHiddenLayers === 1 ? 1 : index / (numHiddenLayers - 1);
  }
  return tensorName.startsWith("model.norm.") || tensorName.startsWith("lm_head.") ? 1 : 0;
}

/** A gradient read at t, interpolated in float64 as mergekit's evaluate_setting does. */
function readGradient(values: readonly number[], t: number): number {
  const scaled = t * (values.length - 1);
  const i0 = Math.floor(scaled);
  const i1 = Math.min(values.length - 1, i0 + 1);
  const frac = scaled - i0;
  return (1 - frac) * values[i0]! + frac * values[i1]!;
}

/**
 * A setting's value for one tensor at position t: a number as is, a gradient read at t, conditions
 * by the first whose filter is absent, "*" or a substring of the name. Settings read by
 * parseRecipeJson / parseMergekitYaml always give a number (their conditions have a default).
 */
export function evaluateSetting(setting: Setting, tensorName: string, t: number): number {
  if (typeof setting === "number") return setting;
  if (!isSettingConditions(setting)) return readGradient(setting, t);
  const condition = setting.find(({ filter }) => filter === undefined || filter === "*" || tensorName.includes(filter));
  if (!condition) throw new Error(`no condition applies to tensor ${quoteName(tensorName)} (the conditions have no default)`);
  return typeof condition.value === "number" ? condition.value : readGradient(condition.value, t);
}
