import { TORCH_DTYPE_NAMES } from "../dtypes.ts";
import type { MergePlan } from "../plan/planMerge.ts";

/** Files copied byte for byte from the target into the merged folder. */
export const FILES_COPIED_FROM_TARGET = new Set([
  "generation_config.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "chat_template.jinja",
  "chat_template.json",
]);

/**
 * The target's config.json, byte for byte, unless the output dtype changes: then its dtype fields
 * (`torch_dtype`, and `dtype` as newer transformers write it) name the new dtype.
 */
export async function renderMergedConfig(plan: MergePlan, signal?: AbortSignal): Promise<Uint8Array> {
  const { source, files } = plan.models.target;
  const file = files.find((entry) => entry.path === "config.json")!;
  const original = await source.read(file.path, 0, file.size, signal);
  const outDtype = plan.recipe.out_dtype;
  if (!outDtype) return original;
  const name = TORCH_DTYPE_NAMES[outDtype];
  const config = { ...plan.models.target.config };
  if (config.torch_dtype === name || config.dtype === name) return original;
  if ("dtype" in config) config.dtype = name;
  if ("torch_dtype" in config || !("dtype" in config)) config.torch_dtype = name;
  return new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
}
