import { quoteName } from "../../core/messages/safeText.ts";
import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { renderMergekitYaml } from "../../core/recipe/renderMergekitYaml.ts";
import { scaleRecipeWeights } from "../../core/recipe/scaleRecipeWeights.ts";
import { isPathLikeModelSpec } from "../../core/sources/isPathLikeModelSpec.ts";
import { parseHubSpec } from "../../core/sources/parseHubSpec.ts";

/**
 * The lm-evaluation-harness tasks a job can run, with their few-shot counts as lm-eval's task YAMLs
 * set them (v0.4.12, lm_eval/tasks/gsm8k: gsm8k.yaml 5, gsm8k-cot.yaml 8, gsm8k-cot-zeroshot.yaml 0).
 */
export const LM_EVAL_TASKS = { gsm8k: { fewShot: 5 }, gsm8k_cot: { fewShot: 8 }, gsm8k_cot_zeroshot: { fewShot: 0 } } as const;
export type LmEvalTaskName = keyof typeof LM_EVAL_TASKS;

/** The most alphas one job sweeps, as the evaluator's sweep. */
export const MAX_JOB_ALPHAS = 21;
/** lm-eval's default max_gen_toks (v0.4.12, lm_eval/models/vllm_causallms.py). */
export const DEFAULT_MAX_GEN_TOKS = 256;

export interface GpuJobOptions {
  /** The recipe at alpha 1: each alpha's merge is scaleRecipeWeights(recipe, alpha). */
  recipe: MergeRecipe;
  /** Sorted and deduplicated here; 1 to MAX_JOB_ALPHAS finite numbers. */
  alphas: readonly number[];
  tasks: readonly LmEvalTaskName[];
  /** lm-eval's --apply_chat_template (with --fewshot_as_multiturn, lm-eval 0.4.12's default with it). */
  chatTemplate: boolean;
  maxGenToks: number;
  /** GSM8K test-split indices (lm-eval's doc ids) to evaluate, as the studio's sample; null: the whole split. */
  problemIndices: readonly number[] | null;
  toolVersion: string;
}

/** One file of the job folder: its path inside the folder and its bytes. */
export interface GpuJobFile {
  path: string;
  bytes: Uint8Array;
}

/** A word for bash, single-quoted: `it's` → `'it'\''s'`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** The alphas in ascending order without repeats (-0 is 0), or an error naming the bad one. */
export function sweepAlphas(alphas: readonly number[]): number[] {
  const bad = alphas.find((alpha) => !Number.isFinite(alpha));
  if (bad !== undefined) throw new RangeError(`alpha ${bad} is not a finite number`);
  const sorted = [...new Set(alphas.map((alpha) => (alpha === 0 ? 0 : alpha)))].sort((a, b) => a - b);
  if (sorted.length === 0) throw new RangeError("no alpha to sweep: give at least one");
  if (sorted.length > MAX_JOB_ALPHAS) throw new RangeError(`${sorted.length} alphas: a job sweeps at most ${MAX_JOB_ALPHAS}`);
  return sorted;
}

/** lm-eval's vllm --model_args for a model spec: `pretrained=` a folder or a Hub id, and its `revision=`. */
function pretrainedArgs(spec: string): string {
  if (spec.includes(",")) throw new Error(`model ${quoteName(spec)} has a comma, which lm-eval's --model_args (comma-separated key=value) cannot carry`);
  if (isPathLikeModelSpec(spec)) return `pretrained=${spec}`;
  const { repoId, revision } = parseHubSpec(spec);
  return revision === undefined ? `pretrained=${repoId}` : `pretrained=${repoId},revision=${revision}`;
}

const alphaName = (alpha: number) => `alpha_${alpha}`;

/**
 * One lm_eval run per task (each task has its own --num_fewshot), as lm-evaluation-harness 0.4.12's
 * CLI reads them (lm_eval/_cli/run.py): --model_args "k=v,k=v"; --apply_chat_template, and
 * --fewshot_as_multiturn (0.4.12 turns it on with the template; 0.4.9 to 0.4.11 need it written);
 * --gen_kwargs merged into the task's generation_kwargs (its greedy `until` stays); --samples, a
 * JSON {task: [doc indices]} or a file of it (lm_eval/config/evaluate_config.py), since 0.4.9. Not
 * --limit: it takes the first N documents, not the studio's sample, and cannot go with --samples.
 */
function lmEvalLines(options: GpuJobOptions): string[] {
  return options.tasks.flatMap((task) => [
    `  lm_eval --model vllm --model_args "$model_args,$vllm_args" \\`,
    `    --tasks ${task} --num_fewshot ${LM_EVAL_TASKS[task].fewShot} \\`,
    ...(options.chatTemplate ? ["    --apply_chat_template --fewshot_as_multiturn \\"] : []),
    `    --gen_kwargs max_gen_toks=${options.maxGenToks} --batch_size auto \\`,
    ...(options.problemIndices ? ["    --samples samples.json \\"] : []),
    `    --output_path "$results_dir/$name/${task}" --log_samples`,
  ]);
}

/**
 * run.sh. mergekit 0.1.4's CLI (mergekit/scripts/run_yaml.py, options.py): `mergekit-yaml
 * CONFIG_FILE OUT_PATH` plus flags such as --cuda; a model reference may carry "@revision"
 * (mergekit/common.py ModelPath), so pinned Hub inputs stay pinned.
 */
function renderRunScript(options: GpuJobOptions, alphas: readonly number[]): string {
  return `#!/usr/bin/env bash
# GPU job written by merge-studio ${options.toolVersion}: merges the recipe at each alpha with
# mergekit, and evaluates the target and every merge with lm-evaluation-harness on vLLM
# (${options.tasks.join(", ")}). See README.md. Written against mergekit 0.1.4
# (mergekit-yaml CONFIG_FILE OUT_PATH [--cuda]) and lm-evaluation-harness 0.4.12 (lm_eval --model vllm;
# --samples needs 0.4.9 or later).
set -euo pipefail

cd "$(dirname "\${BASH_SOURCE[0]}")"
models_dir="\${MODELS_DIR:-models}"
results_dir="\${RESULTS_DIR:-results}"
vllm_args="\${VLLM_ARGS:-dtype=auto,gpu_memory_utilization=0.8,tensor_parallel_size=1}"
read -r -a mergekit_flags <<< "\${MERGEKIT_FLAGS---cuda}"
keep_models="\${KEEP_MODELS:-1}"

# evaluate NAME MODEL_ARGS: every task of the job on one model, into results/NAME/TASK/.
evaluate() {
  local name="$1" model_args="$2"
${lmEvalLines(options).join("\n")}
}

# merge_and_evaluate NAME: mergekit merges configs/NAME.yaml into models/NAME, which is then
# evaluated, and deleted afterwards when KEEP_MODELS=0.
merge_and_evaluate() {
  local name="$1"
  mergekit-yaml "configs/$name.yaml" "$models_dir/$name" "\${mergekit_flags[@]}"
  evaluate "$name" "pretrained=$models_dir/$name"
  if [[ "$keep_models" == 0 ]]; then
    rm -rf "\${models_dir:?}/$name"
  fi
}

evaluate target ${shellQuote(pretrainedArgs(options.recipe.target))}
${alphas.map((alpha) => `merge_and_evaluate ${shellQuote(alphaName(alpha))}`).join("\n")}
echo "done: lm-eval's results JSON for each model and task are under $results_dir/"
`;
}

function renderJobReadme(options: GpuJobOptions, alphas: readonly number[], notes: readonly string[]): string {
  const { recipe, problemIndices } = options;
  const models = [recipe.target, ...recipe.vectors.flatMap((vector) => [vector.plus, vector.minus])];
  const folders = [...new Set(models.filter(isPathLikeModelSpec))];
  const lines = [
    "# GPU job: alpha sweep with mergekit and lm-evaluation-harness",
    "",
    `Written by merge-studio ${options.toolVersion}. It reruns the studio's sweep at full size on a GPU machine:`,
    `for each alpha (${alphas.join(", ")}) mergekit merges \`configs/alpha_A.yaml\` (the recipe with every vector`,
    "weight times alpha, in mergekit's terms) into `models/alpha_A/`, and lm-evaluation-harness evaluates it with",
    `its vLLM backend on ${options.tasks.join(", ")}; the target (${recipe.target}) is evaluated once, as it is.`,
    "",
    "## Run",
    "",
    "```bash",
    'pip install "mergekit==0.1.4" "lm-eval[vllm]==0.4.12"',
    "bash run.sh",
    "```",
    "",
    "If pip cannot resolve both in one environment, install them in two and put both on PATH:",
    "run.sh only calls the commands `mergekit-yaml` and `lm_eval`.",
    "",
    "Settings, as environment variables:",
    "",
    "- `MODELS_DIR` (default `models`), `RESULTS_DIR` (default `results`);",
    "- `VLLM_ARGS`: lm-eval's vLLM `--model_args` after `pretrained=` (default `dtype=auto,gpu_memory_utilization=0.8,tensor_parallel_size=1`);",
    "- `MERGEKIT_FLAGS`: options of `mergekit-yaml` (default `--cuda`; empty to merge on the CPU);",
    "- `KEEP_MODELS=0` deletes each merged model once it is evaluated (each is as large as the target).",
    "",
    "## What is evaluated",
    "",
    ...options.tasks.map((task) => `- \`${task}\`: ${LM_EVAL_TASKS[task].fewShot}-shot (\`--num_fewshot ${LM_EVAL_TASKS[task].fewShot}\`), greedy as the task's YAML sets it`),
    `- chat template: ${options.chatTemplate ? "on (`--apply_chat_template --fewshot_as_multiturn`)" : "off"}; at most ${options.maxGenToks} new tokens (\`--gen_kwargs max_gen_toks=${options.maxGenToks}\`)`,
    problemIndices
      ? `- problems: ${problemIndices.length} of GSM8K's test split, by index (\`--samples samples.json\`), the ones merge-studio evaluated; drop that line of run.sh to run all 1319`
      : "- problems: the whole GSM8K test split (1319)",
    "",
    "lm-eval writes, for each model and task, `results/NAME/TASK/<model>/results_<time>.json` (accuracy with",
    "`strict-match` and `flexible-extract`, and its standard error) and the samples (`--log_samples`).",
    "",
    "## Differences from the studio",
    "",
    "- mergekit computes in its own order and dtype, so a merged weight may differ from merge-studio's in the last bit.",
    "- vLLM decodes in the models' dtype on the GPU; the studio's evaluator in its ONNX format: a few answers may differ.",
    ...notes.map((note) => `- ${note}`),
    ...(folders.length > 0 ? ["", `Local folders are named by their path on the machine that wrote this job (${folders.join(", ")}): copy them to the same paths, or edit the configs and run.sh.`] : []),
    "",
  ];
  return lines.join("\n");
}

/**
 * The files of "Export as a GPU job" (DOM-free, for the CLI's export-job and the studio): one
 * mergekit YAML per alpha (renderMergekitYaml of scaleRecipeWeights(recipe, alpha)), run.sh (bash,
 * `set -euo pipefail`: mergekit-yaml per alpha, lm_eval --model vllm for the target once and each
 * merge, per task), samples.json when a sample was evaluated, and README.md explaining the job.
 * A recipe mergekit cannot express, at any alpha, is refused with its reason.
 */
export function renderGpuJob(options: GpuJobOptions): GpuJobFile[] {
  const alphas = sweepAlphas(options.alphas);
  if (options.tasks.length === 0) throw new Error(`no task to run: give at least one of ${Object.keys(LM_EVAL_TASKS).join(", ")}`);
  if (!Number.isInteger(options.maxGenToks) || options.maxGenToks < 1) throw new RangeError(`max_gen_toks ${options.maxGenToks} is not a positive integer`);
  const notes = new Set<string>();
  const configs = alphas.map((alpha) => {
    const exported = renderMergekitYaml(scaleRecipeWeights(options.recipe, alpha));
    if (!exported.ok) throw new Error(`alpha ${alpha}: mergekit cannot express this recipe: ${exported.reason}`);
    for (const note of exported.notes) notes.add(note);
    return { path: `configs/${alphaName(alpha)}.yaml`, text: exported.yaml };
  });
  const text = [
    ...configs,
    { path: "run.sh", text: renderRunScript(options, alphas) },
    { path: "README.md", text: renderJobReadme(options, alphas, [...notes]) },
    ...(options.problemIndices ? [{ path: "samples.json", text: `${JSON.stringify(Object.fromEntries(options.tasks.map((task) => [task, options.problemIndices])))}\n` }] : []),
  ];
  const encoder = new TextEncoder();
  return text.map((file) => ({ path: file.path, bytes: encoder.encode(file.text) }));
}
