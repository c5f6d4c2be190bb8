import { labelledInputs, type MergePlan } from "../plan/planMerge.ts";
import type { Setting } from "../recipe/MergeRecipe.ts";
import { renderMergekitYaml } from "../recipe/renderMergekitYaml.ts";
import { METHOD_STEPS } from "../recipe/TensorRecipe.ts";
import { inputName } from "./describeInput.ts";
import { pinnedRecipe } from "./pinnedRecipe.ts";

const settingText = (setting: Setting | undefined) => (setting === undefined ? "the recipe's" : JSON.stringify(setting));

/** README.md of the merged folder: Hub front matter, the recipe in words, and its mergekit YAML (or why mergekit cannot express it). */
export function renderModelCard(plan: MergePlan): string {
  const { recipe } = plan;
  const inputs = labelledInputs(plan.models);
  const name = (index: number) => inputName(inputs[index]!.value.source);
  const revision = (index: number) => {
    const rev = inputs[index]!.value.source.revision;
    return rev ? ` (revision \`${rev}\`)` : "";
  };
  const baseModels = [...new Set(inputs.map((_, index) => name(index)))];
  const { sparsification, consensus } = METHOD_STEPS[recipe.method];
  const [vector] = recipe.vectors;
  const title =
    recipe.vectors.length === 1 && recipe.method === "task_arithmetic" && typeof vector?.weight === "number"
      ? `${name(0)} + ${vector.weight} × (${name(1)} − ${name(2)})`
      : `${name(0)} + ${recipe.method} of ${recipe.vectors.length} vector(s)`;
  const { parameters } = recipe;
  const vectorLines = recipe.vectors.map(
    (entry, j) =>
      `| ${j} | ${name(1 + 2 * j)} | ${name(2 + 2 * j)} | ${settingText(entry.weight ?? parameters.weight)} | ${sparsification === "none" ? "-" : settingText(entry.density ?? parameters.density)} | ${sparsification === "magnitude_outliers" ? settingText(entry.gamma ?? parameters.gamma) : "-"} |`,
  );
  const exported = renderMergekitYaml(pinnedRecipe(plan));
  const mergekit = exported.ok
    ? `The same recipe as a mergekit config (mergekit sums in another order, so a few last bits may differ):\n\n\`\`\`yaml\n${exported.yaml}\`\`\``
    : `mergekit cannot express this recipe: ${exported.reason}.`;
  return `---
base_model:
${baseModels.map((model) => `- ${model}`).join("\n")}
tags:
- merge
- merge-studio
- ${recipe.method.replaceAll("_", "-")}
library_name: transformers
---

# Merged model: ${title}

Made with Merge Studio: merged = target + the ${recipe.method} mix of the task vectors (plus_j − minus_j)
(the "reasoning vector" recipe of arXiv 2509.01363 is one task_arithmetic vector).

| role | model |
| --- | --- |
${inputs.map(({ label }, index) => `| ${label} | ${name(index)}${revision(index)} |`).join("\n")}

| vector | plus | minus | weight | density | gamma |
| --- | --- | --- | --- | --- | --- |
${vectorLines.join("\n")}

- method: ${recipe.method} (sparsification: ${sparsification}${consensus ? ", sign consensus" : ""})
- normalize: ${parameters.normalize}${sparsification === "random" ? `, rescale: ${parameters.rescale}, seed: ${parameters.seed}` : ""}
- control: ${recipe.control ? `random_sign (seed ${recipe.control.seed})` : "none"}
- output dtype: ${recipe.out_dtype ?? "the target's dtype, per tensor"}
- vocabulary: ${recipe.vocab === "common" ? "common rows merged, the target's extra rows copied" : "identical sizes required"}

Every element is computed in float32, each step rounded to float32, then rounded once to the output
dtype (round to nearest even), the same bits on every backend. \`merge_recipe.json\` holds the
recipe (\`merge-studio merge --config merge_recipe.json\` merges it again), the inputs, their
revisions and the SHA-256 of every file.

## mergekit

${mergekit}
`;
}
