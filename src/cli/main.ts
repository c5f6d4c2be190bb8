import { oneLineMessage } from "../core/messages/safeText.ts";
import { UsageError } from "./format.ts";

/** Each command's module is loaded only when that command runs, so one never pays for another's imports. */
const commands: Record<string, { usage: string; run: (args: string[]) => Promise<void> }> = {
  merge: {
    usage: `merge-studio merge (--config RECIPE | --target T --plus P --minus M [--alpha A]) --out DIR [options]

  --config RECIPE   a recipe file: .json (target, method, parameters, vectors with weight / density /
                    gamma, control, out_dtype, vocab; see merge_recipe.json of any output) or a
                    mergekit .yml / .yaml of the task-vector family; model paths in it are relative
                    to its folder. Methods: task_arithmetic, ties, dare_linear, dare_ties,
                    breadcrumbs, breadcrumbs_ties. Not with the recipe flags below.
  T, P, M           the one-vector shorthand target + alpha * (plus - minus): local folders, or Hub
                    repo ids (ORG/NAME or ORG/NAME@REVISION)
  --alpha A         scale of (plus - minus); 0 gives the target, negative subtracts (default 1)
  --out DIR         output folder, written as DIR.partial and renamed when complete; DIR.lock
                    keeps a second merge from writing it at the same time
  --out-dtype D     bf16 | f16 | f32 (default: the target's dtype); shorthand only
  --shard-size S    largest shard, e.g. 5GB (default), 500MB
  --vocab MODE      exact (default) | common: merge the common embedding rows when vocab sizes
                    differ; shorthand only
  --hub-url URL     Hub to use (default https://huggingface.co); token from HF_TOKEN
  --force           replace DIR if it exists, and delete a DIR.partial that is not an unfinished
                    merge of this tool (without it, such a folder is left alone and refused)
  --resume          continue the unfinished merge in DIR.partial (interrupted, killed, network lost):
                    the recipe and inputs must be the same; finished shards are verified by SHA-256
  --checkpoint-every S
                    output between journal checkpoints (default 256MiB): the most a crash can redo
  --check           print the compatibility report and stop`,
    run: async (args) => (await import("./mergeCommand.ts")).mergeCommand(args),
  },
  eval: {
    usage: `merge-studio eval (--model M | --config RECIPE | --target T --plus P --minus M [--alpha A | --alphas LIST]) [options]

  Runs a task (GSM8K test problems, a toy task, or a custom set) with greedy decoding under onnxruntime-node
  and prints each model's answers and accuracy; with a recipe, the target and the merge side by
  side (paired comparison).
  --alphas LIST       a sweep: the target once, then the merge at each alpha (computed as it loads,
                      nothing saved): -1,0,0.5,1 or FROM:TO:STEP (-1:1.5:0.5); sorted, each once, at
                      most 21; empty: the target alone. With --target/--plus/--minus alpha is the
                      paper's alpha; with --config it scales every vector weight (not with
                      normalize). Alpha 0 is checked to give exactly the target's answers
  --control C         reversed | random-sign (comma list): the recipe at -A (listed once if -A is
                      in the sweep), and at A with random signs; --control-alpha A (default: the
                      largest alpha, or 1), --control-seed N (random-sign, default 0)
  --task T            zero-shot-boxed (default) | think-step-by-step | eight-shot-cot (presets) |
                      gsm8k | gsm8k_cot | gsm8k_cot_zeroshot (lm-evaluation-harness v0.4.12 formats,
                      strict-match and flexible-extract) | PATH.jsonl | URL (a custom set: lines
                      {"question", "answer": number} or {"prompt", "target"[, "match": "regex"]}) |
                      toy-reasoning | toy-own (the toy demo's held-out sets
                      in public/data/toy/, exact match, 16 new tokens by default)
  --chat-template on|off
                      prompts through the model's chat template (default on, where it has one)
  --fewshot-as-multiturn
                      with the chat template, few-shot examples as separate turns
  --n N               problems drawn at random (default 20), --seed S (default 2509)
  --problems 1,2,3    these problems (0-based lines of the test set or toy set) instead
  --max-new-tokens N  (default: the task's, 256 for lm-eval tasks, 16 for toy tasks, 512 otherwise)
  --format F          q8 (default: int8 weights and activations; CPU) | f32 | f16 | q4 (4-bit MatMulNBits, block 32; for WebGPU)
  --batch N           problems answered at once, 1 to 256, or auto (default: from the model's
                      size, the prompts' length and the machine's memory, at most 16)
  --json FILE         also write the report as JSON (schema merge-studio-eval/1: settings, task,
                      every model's scores, comparison with the target, Holm p, answers)
  --csv FILE          also write one row per model and metric as CSV
  --ids 1,2,3 --steps N --dump FILE
                      numeric check: writes {"logits": [last-position logits of these token ids],
                      "greedy_ids": [N greedy tokens]} for --model, and stops
  --config, --vocab MODE, --hub-url URL as for merge; token from HF_TOKEN`,
    run: async (args) => (await import("./evalCommand.ts")).evalCommand(args),
  },
  record: {
    usage: `merge-studio record --out DIR --report REPORT.json [--name NAME] [--source-url URL]

  Records an evaluation in a finished merge: DIR/README.md gets the Hub model-index metadata of
  this merge's results and a table "Evaluation: target vs this merge"; DIR/merge_recipe.json gets
  the field "evaluation" (settings, scores, comparison, per-problem right/wrong; not the answers).
  Both are replaced atomically. One evaluation per task: recording a task again replaces it,
  other tasks stay.
  REPORT.json     written by merge-studio eval --json or the studio; it must hold a model whose
                  recipe is this merge's (compared as canonical recipe JSON, pinned revisions too)
  --name NAME     the model's name in model-index (default: the folder's name)
  --source-url URL
                  where the results can be seen; written as the result's source (none by default)`,
    run: async (args) => (await import("./recordCommand.ts")).recordCommand(args),
  },
  "export-job": {
    usage: `merge-studio export-job (--config RECIPE | --target T --plus P --minus M) --alphas LIST --out DIR [options]

  Writes a folder that reruns an alpha sweep on a GPU machine: configs/alpha_A.yaml (the recipe with
  every vector weight times A, as a mergekit config), run.sh (mergekit-yaml for each alpha, then
  lm_eval --model vllm on the target once and on each merge), samples.json and README.md.
  A recipe mergekit cannot express is refused with the reason.
  --alphas LIST       e.g. -1,0.5,1,1.5 (sorted, repeats dropped; at most 21)
  --task T[,T]        gsm8k (default; 5-shot) | gsm8k_cot (8-shot) | gsm8k_cot_zeroshot
  --chat-template on|off
                      lm_eval --apply_chat_template --fewshot_as_multiturn (default on)
  --max-gen-toks N    lm_eval --gen_kwargs max_gen_toks=N (default 256, lm-eval's)
  --problems 1,2,3 | --n N [--seed S] | --report REPORT.json
                      evaluate only these GSM8K test problems (lm_eval --samples): listed, drawn
                      as merge-studio eval draws them, or those of an evaluation report (which
                      also gives the task, chat template and token limit unless flags do);
                      default: all 1319
  --config, --vocab as for merge`,
    run: async (args) => (await import("./exportJobCommand.ts")).exportJobCommand(args),
  },
  inspect: {
    usage: `merge-studio inspect (--config RECIPE | --target T --plus P --minus M) [--json OUT.json] [--hub-url URL]

  Statistics of the recipe's raw task vectors v_j = fl32(plus_j - minus_j), without merging: per
  tensor, per layer and module, and for the whole model: ||v||2, ||v||2 / ||target||2, max |v|, the
  share of exact zeros, and between two vectors the cosine and the sign agreement. Reads every
  input once, chunk by chunk. Prints a summary; --json writes every number.
  --config, --target/--plus/--minus, --vocab MODE, --hub-url URL as for merge (weights, densities
  and the method do not change the raw vectors); token from HF_TOKEN`,
    run: async (args) => (await import("./inspectCommand.ts")).inspectCommand(args),
  },
  hub: {
    usage: `merge-studio hub --root DIR [--port N] [--host H] [--token T] [faults] [real-Hub behaviours]

  Serves DIR/OWNER/NAME/... as read-only Hub model repos (the routes @huggingface/hub uses).
  --token T          require "Authorization: Bearer T"
  --fail-every K     every K-th file request fails (503 or a dropped connection)
  --truncate-every K every K-th file body is cut short
  --delay-ms N       wait N ms before each answer
  What huggingface.co does, each on its own or all with --real-hub (its numbers):
  --real-hub         all of the below: CDN URLs valid 3600 s, quota 3000/300 (5000 with a token), ...
  --tokens T1,T2     valid tokens a request may send (not required); any other token gets 401
  --cdn-ttl S        LFS files (*.safetensors, and files of --lfs-min-bytes, default 10 MiB) answer 302
                     to a second origin (--cdn-port N) with signed URLs that expire after S seconds
  --resolve-cache    other files answer a relative 307 to /api/resolve-cache/...
  --rate-limit Q/W   Q resolver requests per W seconds (RateLimit headers, then 429); --token-quota Q
  --tree-page-size N tree listings in pages of N, continued by a Link header
  --hide-repos       missing and private repos answer 401 without a valid token
  --case-insensitive repo ids match ignoring case (307 to the canonical spelling)`,
    run: async (args) => (await import("./hubCommand.ts")).hubCommand(args),
  },
  demo: {
    usage: `merge-studio demo --root DIR

  Writes the generated demo repos (demo/Qwen2-Small-Instruct, -GRPO, -SFT, -BigVocab) and the
  trained toy models of models/toy/ (demo/Toy-Base, -Instruct, -SFT, -GRPO, checked against its
  toy-demo.json) into DIR, ready for "merge-studio hub --root DIR".`,
    run: async (args) => (await import("./demoCommand.ts")).demoCommand(args),
  },
};

const usage = `usage: merge-studio <command> [options]\n\n${Object.values(commands).map((command) => command.usage).join("\n\n")}\n`;

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`error: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const usageError = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`error: ${oneLineMessage(message)}\n${usageError ? `\nusage: ${command.usage}\n` : ""}`);
    // A command may choose its status (a merge stopped by SIGTERM exits 143, as a shell reports it).
    return (error as { exitCode?: number }).exitCode ?? (usageError ? 2 : 1);
  }
}

process.exitCode = await main(process.argv.slice(2));
