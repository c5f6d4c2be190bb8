import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { defaultRecipeParameters, type MergeRecipe } from "../src/core/recipe/MergeRecipe.ts";
import { GSM8K_TEST_SET_PATH, parseGsm8k } from "../src/eval/gsm8k/parseGsm8k.ts";
import { sampleProblems } from "../src/eval/gsm8k/sampleProblems.ts";
import { renderGpuJob, type GpuJobFile, type GpuJobOptions } from "../src/eval/job/renderGpuJob.ts";
import { runCli } from "./helpers/runCli.ts";

/*
 * "Export as a GPU job": the YAMLs checked against mergekit's config schema (mergekit 0.1.4,
 * mergekit/config.py MergeConfiguration and the parameters its merge methods declare), written
 * here from that source; run.sh checked by bash -n and shellcheck, and run for real with stand-ins
 * for mergekit-yaml and lm_eval that log their arguments, so the commands it issues are read back.
 */

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

const TOP_LEVEL_KEYS = ["modules", "slices", "models", "merge_method", "base_model", "dtype", "tokenizer_source", "tokenizer", "chat_template", "out_dtype", "parameters"];
const METHODS = ["linear", "task_arithmetic", "ties", "dare_ties", "dare_linear", "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "slerp", "nuslerp", "model_stock", "passthrough", "sce", "karcher", "multislerp", "nearswap", "arcee_fusion"];
const DTYPES = ["float32", "float16", "bfloat16"];
/** ModelPath: "path" or "path@revision", with one "@" at most; ModelReference: at most one "+" (a LoRA). */
const MODEL_REFERENCE = /^[^@+]+(@[^@+]+)?(\+[^@+]+)?$/;

/** Problems with a mergekit config, as mergekit's pydantic models would raise them; [] when it loads. */
function mergekitConfigProblems(config: unknown): string[] {
  const problems: string[] = [];
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
  const isNumber = (value: unknown) => typeof value === "number" && Number.isFinite(value);
  const isScalarOrGradient = (value: unknown) => isNumber(value) || (Array.isArray(value) && value.length > 0 && value.every(isNumber));
  const isConditional = (value: unknown) => isObject(value) && isScalarOrGradient(value.value) && (value.filter === undefined || typeof value.filter === "string") && Object.keys(value).every((key) => key === "value" || key === "filter");
  const isSetting = (value: unknown) => typeof value === "boolean" || isScalarOrGradient(value) || isConditional(value) || (Array.isArray(value) && value.length > 0 && value.every(isConditional));
  const checkParameters = (value: unknown, path: string) => {
    if (value === undefined) return;
    if (!isObject(value)) return void problems.push(`${path}: not a mapping`);
    for (const [name, setting] of Object.entries(value)) if (!isSetting(setting)) problems.push(`${path}.${name}: not a parameter setting`);
  };
  if (!isObject(config)) return ["not a mapping"];
  for (const key of Object.keys(config)) if (!TOP_LEVEL_KEYS.includes(key)) problems.push(`${key}: not a MergeConfiguration field`);
  if (["models", "slices", "modules"].filter((key) => config[key] !== undefined).length !== 1) problems.push("exactly one of models, slices, modules must be present");
  if (typeof config.merge_method !== "string" || !METHODS.includes(config.merge_method)) problems.push(`merge_method: ${String(config.merge_method)} is not a mergekit method`);
  for (const key of ["base_model", "tokenizer_source"]) {
    if (config[key] !== undefined && (typeof config[key] !== "string" || !MODEL_REFERENCE.test(config[key]))) problems.push(`${key}: not a model reference`);
  }
  for (const key of ["dtype", "out_dtype"]) if (config[key] !== undefined && !DTYPES.includes(String(config[key]))) problems.push(`${key}: ${String(config[key])} is not a dtype mergekit knows`);
  checkParameters(config.parameters, "parameters");
  if (!Array.isArray(config.models) || config.models.length === 0) return [...problems, "models: not a non-empty list"];
  config.models.forEach((entry, index) => {
    if (!isObject(entry)) return void problems.push(`models[${index}]: not a mapping`);
    for (const key of Object.keys(entry)) if (key !== "model" && key !== "parameters") problems.push(`models[${index}].${key}: not an InputModelDefinition field`);
    if (typeof entry.model !== "string" || !MODEL_REFERENCE.test(entry.model)) problems.push(`models[${index}].model: not a model reference`);
    checkParameters(entry.parameters, `models[${index}].parameters`);
    // weight is required by every method used here (linear and the task-vector family): the model's own or the global one.
    const parameters = (entry.parameters ?? {}) as Record<string, unknown>;
    const global = (config.parameters ?? {}) as Record<string, unknown>;
    if (parameters.weight === undefined && global.weight === undefined) problems.push(`models[${index}]: no weight`);
  });
  return problems;
}

const oneVector = (target: string): MergeRecipe => ({
  target,
  method: "task_arithmetic",
  parameters: defaultRecipeParameters("task_arithmetic"),
  vectors: [{ plus: "lab/grpo", minus: "lab/sft", weight: 1 }],
  vocab: "exact",
});

const tiesRecipe: MergeRecipe = {
  target: "lab/base@0123abc",
  method: "ties",
  parameters: { ...defaultRecipeParameters("ties"), normalize: false, density: 0.5 },
  vectors: [
    { plus: "lab/math", minus: "lab/base@0123abc", weight: 0.8 },
    { plus: "lab/code", minus: "lab/base@0123abc", weight: [0.2, 0.6], density: 0.3 },
  ],
  out_dtype: "BF16",
  vocab: "exact",
};

const baseOptions = (recipe: MergeRecipe, overrides: Partial<GpuJobOptions> = {}): GpuJobOptions => ({
  recipe,
  alphas: [1, -1, 0.5, 1],
  tasks: ["gsm8k", "gsm8k_cot"],
  chatTemplate: true,
  maxGenToks: 256,
  problemIndices: [3, 17, 1200],
  toolVersion: "0.1.0",
  ...overrides,
});

const text = (files: GpuJobFile[], path: string) => {
  const file = files.find((entry) => entry.path === path);
  expect(file, path).toBeDefined();
  return new TextDecoder().decode(file!.bytes);
};

let root: string;
let stubs: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "card-export-job-"));
  // Stand-ins: each logs its name and arguments, one per line; mergekit-yaml makes its output folder.
  stubs = join(root, "bin");
  await mkdir(stubs);
  for (const [name, body] of [
    ["mergekit-yaml", 'mkdir -p "$2" && touch "$2/config.json"'],
    ["lm_eval", ":"],
  ] as const) {
    const path = join(stubs, name);
    await writeFile(path, `#!/usr/bin/env bash\nset -euo pipefail\n{ printf '%s' ${name}; printf ' %s' "$@"; printf '\\n'; } >> "$JOB_LOG"\n${body}\n`);
    await chmod(path, 0o755);
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function writeJob(name: string, files: GpuJobFile[]): Promise<string> {
  const dir = join(root, name);
  for (const file of files) {
    await mkdir(dirname(join(dir, file.path)), { recursive: true });
    await writeFile(join(dir, file.path), file.bytes);
  }
  return dir;
}

/** Runs the job's run.sh with the stand-ins first on PATH; returns the logged commands. */
async function runJob(dir: string, env: Record<string, string> = {}): Promise<string[]> {
  const log = join(dir, "commands.log");
  const result = spawnSync("bash", [join(dir, "run.sh")], { env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, JOB_LOG: log, ...env }, encoding: "utf8" });
  expect(result.status, result.stderr).toBe(0);
  return (await readFile(log, "utf8")).trim().split("\n");
}

const hasShellcheck = spawnSync("shellcheck", ["--version"]).status === 0;

describe("renderGpuJob", () => {
  it("writes one mergekit config per alpha (sorted, once each) that mergekit's schema accepts, with every weight times alpha", () => {
    const files = renderGpuJob(baseOptions(oneVector("lab/base")));
    expect(files.map((file) => file.path).sort()).toEqual(["README.md", "configs/alpha_-1.yaml", "configs/alpha_0.5.yaml", "configs/alpha_1.yaml", "run.sh", "samples.json"]);
    for (const alpha of [-1, 0.5, 1]) {
      const config = parseYaml(text(files, `configs/alpha_${alpha}.yaml`)) as { merge_method: string; models: { model: string; parameters: { weight: number } }[] };
      expect(mergekitConfigProblems(config)).toEqual([]);
      expect(config.merge_method).toBe("linear");
      expect(config.models.map((entry) => [entry.model, entry.parameters.weight])).toEqual([
        ["lab/base", 1],
        ["lab/grpo", alpha],
        ["lab/sft", -alpha],
      ]);
    }
    const ties = renderGpuJob(baseOptions(tiesRecipe, { alphas: [2] }));
    const config = parseYaml(text(ties, "configs/alpha_2.yaml")) as Record<string, unknown> & { models: { model: string; parameters: Record<string, unknown> }[] };
    expect(mergekitConfigProblems(config)).toEqual([]);
    expect(config).toMatchObject({ merge_method: "ties", base_model: "lab/base@0123abc", out_dtype: "bfloat16" });
    expect(config.models.map((entry) => [entry.model, entry.parameters.weight])).toEqual([
      ["lab/math", 1.6],
      ["lab/code", [0.4, 1.2]],
    ]);
    expect(JSON.parse(text(files, "samples.json"))).toEqual({ gsm8k: [3, 17, 1200], gsm8k_cot: [3, 17, 1200] });
  });

  it("the schema check itself refuses configs mergekit would not load", () => {
    expect(mergekitConfigProblems({ merge_method: "linear", models: [{ model: "a/b", parameters: { weight: 1 } }], slices: [] })).toEqual(["exactly one of models, slices, modules must be present"]);
    expect(mergekitConfigProblems({ merge_method: "sum", models: [{ model: "a/b@1@2" }], dtype: "bf16", weights: 1 })).toEqual([
      "weights: not a MergeConfiguration field",
      "merge_method: sum is not a mergekit method",
      "dtype: bf16 is not a dtype mergekit knows",
      "models[0].model: not a model reference",
      "models[0]: no weight",
    ]);
  });

  it("run.sh is well-formed bash: set -euo pipefail, bash -n", async () => {
    const dir = await writeJob("syntax", renderGpuJob(baseOptions(tiesRecipe)));
    const script = await readFile(join(dir, "run.sh"), "utf8");
    expect(script.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(script).toContain("\nset -euo pipefail\n");
    const syntax = spawnSync("bash", ["-n", join(dir, "run.sh")], { encoding: "utf8" });
    expect(syntax.status, syntax.stderr).toBe(0);
  });

  it.skipIf(!hasShellcheck)("run.sh passes shellcheck (skipped when shellcheck is not installed)", async () => {
    for (const [name, options] of [
      ["check-chat", baseOptions(tiesRecipe)],
      ["check-plain", baseOptions(oneVector("/models/My Target's copy"), { chatTemplate: false, problemIndices: null, tasks: ["gsm8k_cot_zeroshot"] })],
    ] as const) {
      const dir = await writeJob(name, renderGpuJob(options));
      const check = spawnSync("shellcheck", ["--severity=style", join(dir, "run.sh")], { encoding: "utf8" });
      expect(check.status, check.stdout).toBe(0);
    }
  });

  it("run.sh evaluates the target once, then merges and evaluates each alpha, with the tasks' few-shot, the chat template, max_gen_toks and the sample", async () => {
    const dir = await writeJob("run-chat", renderGpuJob(baseOptions(oneVector("lab/base@v1"))));
    const commands = await runJob(dir);
    const lmEval = (model: string, results: string, task: string, shots: number) =>
      `lm_eval --model vllm --model_args ${model},dtype=auto,gpu_memory_utilization=0.8,tensor_parallel_size=1 --tasks ${task} --num_fewshot ${shots} --apply_chat_template --fewshot_as_multiturn --gen_kwargs max_gen_toks=256 --batch_size auto --samples samples.json --output_path results/${results}/${task} --log_samples`;
    const evaluations = (model: string, results: string) => [lmEval(model, results, "gsm8k", 5), lmEval(model, results, "gsm8k_cot", 8)];
    expect(commands).toEqual([
      ...evaluations("pretrained=lab/base,revision=v1", "target"),
      ...[-1, 0.5, 1].flatMap((alpha) => [`mergekit-yaml configs/alpha_${alpha}.yaml models/alpha_${alpha} --cuda`, ...evaluations(`pretrained=models/alpha_${alpha}`, `alpha_${alpha}`)]),
    ]);
    // Every config the script names is in the job, and every model folder it evaluates was merged.
    for (const alpha of [-1, 0.5, 1]) expect(await readdir(join(dir, "models", `alpha_${alpha}`))).toEqual(["config.json"]);
  });

  it("run.sh without chat template or sample, a local target with a quote and a space, KEEP_MODELS=0 and MERGEKIT_FLAGS empty", async () => {
    const target = "/models/My Target's copy";
    const dir = await writeJob("run-plain", renderGpuJob(baseOptions(oneVector(target), { alphas: [0], tasks: ["gsm8k_cot_zeroshot"], chatTemplate: false, maxGenToks: 512, problemIndices: null })));
    const commands = await runJob(dir, { KEEP_MODELS: "0", MERGEKIT_FLAGS: "", VLLM_ARGS: "tensor_parallel_size=2" });
    const lmEval = (model: string, results: string) =>
      `lm_eval --model vllm --model_args ${model},tensor_parallel_size=2 --tasks gsm8k_cot_zeroshot --num_fewshot 0 --gen_kwargs max_gen_toks=512 --batch_size auto --output_path results/${results}/gsm8k_cot_zeroshot --log_samples`;
    expect(commands).toEqual([lmEval(`pretrained=${target}`, "target"), "mergekit-yaml configs/alpha_0.yaml models/alpha_0", lmEval("pretrained=models/alpha_0", "alpha_0")]);
    expect(await readdir(join(dir, "models"))).toEqual([]);
    await expect(readFile(join(dir, "samples.json"))).rejects.toThrow();
    expect(await readFile(join(dir, "README.md"), "utf8")).toContain("Local folders are named by their path on the machine that wrote this job (/models/My Target's copy)");
  });

  it("refuses what mergekit cannot express, with the reason, and bad alphas", () => {
    const controlled: MergeRecipe = { ...oneVector("lab/base"), control: { kind: "random_sign", seed: 3 } };
    expect(() => renderGpuJob(baseOptions(controlled))).toThrow("alpha -1: mergekit cannot express this recipe: mergekit has no random_sign control");
    expect(() => renderGpuJob(baseOptions({ ...oneVector("lab/base"), vocab: "common" }))).toThrow(/vocab: common/);
    expect(() => renderGpuJob(baseOptions({ ...tiesRecipe, parameters: { ...tiesRecipe.parameters, normalize: true } }))).toThrow(/normalize/);
    expect(() => renderGpuJob(baseOptions(oneVector("lab/base"), { alphas: Array.from({ length: 22 }, (_, i) => i) }))).toThrow("22 alphas: a job sweeps at most 21");
    expect(() => renderGpuJob(baseOptions(oneVector("lab/base"), { alphas: [] }))).toThrow("no alpha to sweep");
    expect(() => renderGpuJob(baseOptions(oneVector("lab/a,b")))).toThrow(/has a comma/);
  });
});

describe("merge-studio export-job", () => {
  it("takes the task, chat template, token limit and problems of an evaluation report", async () => {
    const report = {
      schema: "merge-studio-eval/1",
      createdAt: "2026-11-30T12:00:00.000Z",
      evaluator: { version: "0.1.0", runtime: "onnxruntime-node", format: "q8", batchSize: 2, maxNewTokens: 384, greedy: true, chatTemplate: false },
      task: { name: "gsm8k_cot", promptFormat: "8-shot Q/A (lm-eval gsm8k_cot)", fewShot: 8, dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" }, problemIndices: [9, 2], sampleSeed: null, metrics: ["strict-match"] },
      models: [
        {
          label: "target",
          kind: "target",
          alpha: null,
          control: null,
          recipe: null,
          scores: [{ metric: "strict-match", correct: 1, total: 2, accuracy: 0.5, low: 0.09, high: 0.91 }],
          comparison: null,
          run: { loadSeconds: 1, answerSeconds: 1, newTokens: 2, tokensPerSecond: 2 },
          answers: [9, 2].map((problemIndex, i) => ({ problemIndex, output: "x", newTokens: 1, stopReason: "eos", scores: [{ extracted: null, correct: i === 0 }] })),
        },
      ],
    };
    const reportPath = join(root, "report.json");
    await writeFile(reportPath, JSON.stringify(report));
    const out = join(root, "cli-job");
    const result = await runCli(["export-job", "--target", "lab/base", "--plus", "lab/grpo", "--minus", "lab/sft", "--alphas", "1.5,-1", "--report", reportPath, "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(out, "samples.json"), "utf8"))).toEqual({ gsm8k_cot: [9, 2] });
    const commands = await runJob(out);
    expect(commands[0]).toBe("lm_eval --model vllm --model_args pretrained=lab/base,dtype=auto,gpu_memory_utilization=0.8,tensor_parallel_size=1 --tasks gsm8k_cot --num_fewshot 8 --gen_kwargs max_gen_toks=384 --batch_size auto --samples samples.json --output_path results/target/gsm8k_cot --log_samples");
    expect(commands.filter((command) => command.startsWith("mergekit-yaml"))).toEqual(["mergekit-yaml configs/alpha_-1.yaml models/alpha_-1 --cuda", "mergekit-yaml configs/alpha_1.5.yaml models/alpha_1.5 --cuda"]);

    const again = await runCli(["export-job", "--target", "lab/base", "--plus", "lab/grpo", "--minus", "lab/sft", "--alphas", "1", "--out", out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("exists: give a new folder for the job");
  }, 60_000);

  it("draws --n problems as merge-studio eval does, and refuses bad input with the reason", async () => {
    const out = join(root, "cli-sample");
    const args = ["export-job", "--target", "lab/base", "--plus", "lab/grpo", "--minus", "lab/sft", "--out", out];
    const result = await runCli([...args, "--alphas", "1", "--n", "5", "--seed", "2509", "--task", "gsm8k"]);
    expect(result.code, result.stderr).toBe(0);
    // The problems `merge-studio eval --n 5 --seed 2509` answers: sampleProblems over the shipped test set.
    const all = parseGsm8k(await readFile(join(repoRoot, "public", GSM8K_TEST_SET_PATH), "utf8"));
    const drawn = sampleProblems(all, 5, 2509).map((problem) => problem.index);
    expect(drawn).toHaveLength(5);
    expect(JSON.parse(await readFile(join(out, "samples.json"), "utf8"))).toEqual({ gsm8k: drawn });
    for (const [extra, message] of [
      [["--alphas", "1,nan"], '--alphas must be a finite number, got "nan"'],
      [["--alphas", "1", "--task", "mmlu"], '"mmlu" is not an lm-evaluation-harness task'],
      [["--alphas", "1", "--alpha", "2"], "--alpha: a job sweeps --alphas"],
      [["--alphas", "1", "--n", "3", "--problems", "1"], "give the problems one way"],
      [["--alphas", "1", "--chat-template", "yes"], "--chat-template must be on or off"],
    ] as const) {
      const refused = await runCli([...args.slice(0, -1), join(root, "never"), ...extra]);
      expect(refused.code, extra.join(" ")).toBe(2);
      expect(refused.stderr).toContain(message);
    }
  }, 60_000);
});
