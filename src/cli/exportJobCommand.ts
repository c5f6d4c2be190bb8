import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileSystemError } from "../core/node/fileSystemError.ts";
import { TOOL_VERSION } from "../core/version.ts";
import { GSM8K_TEST_SET_PATH, parseGsm8k } from "../eval/gsm8k/parseGsm8k.ts";
import { DEFAULT_SAMPLE_SEED, sampleProblems, selectProblems } from "../eval/gsm8k/sampleProblems.ts";
import { DEFAULT_MAX_GEN_TOKS, LM_EVAL_TASKS, renderGpuJob, type LmEvalTaskName } from "../eval/job/renderGpuJob.ts";
import { readEvalReport } from "../eval/report/readEvalReport.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs, parseFiniteNumber } from "./parseCommandArgs.ts";
import { RECIPE_ARG_OPTIONS, readRecipeArgs } from "./recipeArgs.ts";

/** The GSM8K test set shipped with the app (public/ is served as the web root). */
const GSM8K_FILE = new URL(`../../public/${GSM8K_TEST_SET_PATH}`, import.meta.url);

const isLmEvalTask = (name: string): name is LmEvalTaskName => Object.hasOwn(LM_EVAL_TASKS, name);

function integerList(text: string, flag: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part))) throw new UsageError(`${flag} must be comma-separated non-negative integers, got "${text}"`);
  return parts.map(Number);
}

function integerArg(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min) throw new UsageError(`${flag} must be an integer of at least ${min}, got "${text}"`);
  return value;
}

/**
 * `merge-studio export-job (--config RECIPE | --target T --plus P --minus M) --alphas LIST --out DIR
 * [--task gsm8k[,gsm8k_cot,gsm8k_cot_zeroshot]] [--chat-template on|off] [--max-gen-toks N]
 * [--problems LIST | --n N [--seed S] | --report REPORT.json]`: writes the GPU job of renderGpuJob
 * into DIR (a new folder). `--report` takes the task, chat template, token limit and problems of a
 * studio or CLI evaluation, so the job reruns the same evaluation; flags given win over it.
 */
export async function exportJobCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      ...RECIPE_ARG_OPTIONS,
      alphas: { type: "string" },
      out: { type: "string" },
      task: { type: "string" },
      "chat-template": { type: "string" },
      "max-gen-toks": { type: "string" },
      problems: { type: "string" },
      n: { type: "string" },
      seed: { type: "string" },
      report: { type: "string" },
    },
  });
  if (values.alphas === undefined) throw new UsageError("--alphas is required: the sweep's alphas, e.g. -1,0.5,1,1.5");
  if (values.alpha !== undefined) throw new UsageError("--alpha: a job sweeps --alphas; the recipe is taken at alpha 1");
  if (values.out === undefined) throw new UsageError("--out is required: the folder to write the job into");
  const selections = [values.problems, values.n, values.report].filter((value) => value !== undefined).length;
  if (selections > 1) throw new UsageError("give the problems one way: --problems LIST, --n N [--seed S], or --report REPORT.json");
  if (values.seed !== undefined && values.n === undefined) throw new UsageError("--seed goes with --n");
  const recipe = await readRecipeArgs(values);
  const alphas = values.alphas.split(",").map((part) => parseFiniteNumber(part.trim(), "--alphas"));
  const report = values.report === undefined ? undefined : readEvalReport(await readFile(values.report, "utf8").catch((error: unknown) => Promise.reject(fileSystemError(error, values.report!, "read the report"))), values.report);

  const taskText = values.task ?? report?.task.name ?? "gsm8k";
  const tasks = taskText.split(",").map((task) => task.trim());
  const unknown = tasks.find((task) => !isLmEvalTask(task));
  if (unknown !== undefined) throw new UsageError(`--task: "${unknown}" is not an lm-evaluation-harness task a job runs (known: ${Object.keys(LM_EVAL_TASKS).join(", ")})${values.task === undefined ? ` (taken from ${values.report})` : ""}`);
  const chatTemplateText = values["chat-template"];
  if (chatTemplateText !== undefined && chatTemplateText !== "on" && chatTemplateText !== "off") throw new UsageError(`--chat-template must be on or off, got "${chatTemplateText}"`);
  const chatTemplate = chatTemplateText === undefined ? (report?.evaluator.chatTemplate ?? true) : chatTemplateText === "on";
  const maxGenToks = values["max-gen-toks"] === undefined ? (report?.evaluator.maxNewTokens ?? DEFAULT_MAX_GEN_TOKS) : integerArg(values["max-gen-toks"], "--max-gen-toks", 1);
  let problemIndices: number[] | null = report ? report.task.problemIndices : null;
  if (report && report.task.dataset.kind !== "hub") throw new Error(`${values.report}: its problems come from the custom set ${report.task.dataset.name}, which lm-eval's GSM8K tasks do not hold`);
  if (values.problems !== undefined || values.n !== undefined) {
    const all = parseGsm8k(await readFile(GSM8K_FILE, "utf8"));
    const chosen =
      values.problems !== undefined
        ? selectProblems(all, integerList(values.problems, "--problems"))
        : sampleProblems(all, integerArg(values.n!, "--n", 1), values.seed === undefined ? DEFAULT_SAMPLE_SEED : integerArg(values.seed, "--seed", 0));
    problemIndices = chosen.map((problem) => problem.index);
  }

  let files;
  try {
    files = renderGpuJob({ recipe, alphas, tasks: tasks.filter(isLmEvalTask), chatTemplate, maxGenToks, problemIndices, toolVersion: TOOL_VERSION });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(`--alphas: ${error.message}`);
    throw error;
  }
  const out = values.out;
  if (await stat(out).then(() => true, () => false)) throw new Error(`${out} exists: give a new folder for the job`);
  try {
    for (const file of files) {
      const path = join(out, file.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.bytes);
      if (file.path.endsWith(".sh")) await chmod(path, 0o755);
    }
  } catch (error) {
    await rm(out, { recursive: true, force: true });
    throw fileSystemError(error, out, "write the job into");
  }
  process.stdout.write(`wrote ${files.length} files into ${out}: ${files.map((file) => file.path).join(", ")}\nrun it on a GPU machine: bash ${join(out, "run.sh")}\n`);
}
