import type { MergePlan } from "../plan/planMerge.ts";
import { inputName } from "./describeInput.ts";
import { renderMergekitYaml } from "./renderMergekitYaml.ts";

/** README.md of the merged folder: Hub front matter, the recipe in words, and a mergekit YAML. */
export function renderModelCard(plan: MergePlan): string {
  const name = (role: "target" | "plus" | "minus") => inputName(plan.models[role].source);
  const revision = (role: "target" | "plus" | "minus") => {
    const rev = plan.models[role].source.revision;
    return rev ? ` (revision \`${rev}\`)` : "";
  };
  const alpha = plan.options.parameters.alpha ?? 1;
  const outDtype = plan.options.outDtype ?? "the target's dtype, per tensor";
  return `---
base_model:
- ${name("target")}
- ${name("plus")}
- ${name("minus")}
tags:
- merge
- merge-studio
- task-arithmetic
library_name: transformers
---

# Merged model: ${name("target")} + ${alpha} × (${name("plus")} − ${name("minus")})

Made with Merge Studio (the "reasoning vector" recipe, arXiv 2509.01363):

    merged = target + alpha * (plus - minus)

| role | model |
| --- | --- |
| target | ${name("target")}${revision("target")} |
| plus | ${name("plus")}${revision("plus")} |
| minus | ${name("minus")}${revision("minus")} |

- alpha: ${alpha}${alpha === 0 ? " (the target, unchanged)" : alpha < 0 ? " (the vector is subtracted)" : ""}
- output dtype: ${outDtype}
- vocabulary: ${plan.options.vocab === "common" ? "common rows merged, the target's extra rows copied" : "identical sizes required"}

Every element is computed in float32 as d = p − m, s = d × alpha, r = t + s (three float32
operations, alpha rounded to float32), then rounded once to the output dtype (round to nearest
even). \`merge_recipe.json\` lists the inputs, their revisions and the SHA-256 of every file.

## mergekit

The same formula as a mergekit config (mergekit sums in another order, so a few last bits may differ):

\`\`\`yaml
${renderMergekitYaml(plan)}\`\`\`
`;
}
