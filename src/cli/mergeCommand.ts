import { setMaxListeners } from "node:events";
import { constants as osConstants } from "node:os";
import { oneLineMessage } from "../core/messages/safeText.ts";
import { writeMergedModel, type MergeProgress } from "../core/engine/writeMergedModel.ts";
import { sharedChunkMemory } from "../core/engine/WasmChunkArena.ts";
import { openAndPlan } from "../core/plan/openAndPlan.ts";
import { labelledInputs, type MergePlan } from "../core/plan/planMerge.ts";
import { parseByteSize } from "../core/safetensors/planShards.ts";
import { openNodeFolderSink, type NodeFolderSink } from "../core/node/openNodeFolderSink.ts";
import { ResumeError } from "../core/sinks/FolderSink.ts";
import { outputFolderPaths } from "../core/node/outputFolderPaths.ts";
import { openModelSource } from "../core/node/openModelSource.ts";
import type { ModelSource } from "../core/sources/ModelSource.ts";
import { TOOL_VERSION } from "../core/version.ts";
import { createProgressPrinter } from "./progressPrinter.ts";
import { formatBytes, UsageError } from "./format.ts";
import { createHubStatusPrinter } from "./hubStatusPrinter.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";
import { RECIPE_ARG_OPTIONS, readRecipeArgs } from "./recipeArgs.ts";

export async function mergeCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      ...RECIPE_ARG_OPTIONS,
      out: { type: "string" },
      "shard-size": { type: "string", default: "5GB" },
      "hub-url": { type: "string" },
      force: { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
      "checkpoint-every": { type: "string" },
      check: { type: "boolean", default: false },
    },
  });
  const recipe = await readRecipeArgs(values);
  if (!values.out && !values.check) throw new UsageError("--out is required");
  // A path that names no folder of its own is refused before any input is read.
  if (values.out !== undefined) outputFolderPaths(values.out);
  const shardSize = parseByteSize(values["shard-size"]);
  const checkpointBytes = values["checkpoint-every"] === undefined ? undefined : parseByteSize(values["checkpoint-every"]);

  const hub = { hubUrl: values["hub-url"], accessToken: process.env.HF_TOKEN || undefined, onStatus: createHubStatusPrinter() };
  let sources: ModelSource[] = [];
  try {
    const opened = await openAndPlan(recipe, (spec, label) => openModelSource(spec, hub, label));
    sources = opened.sources;
    const { plan } = opened;
    printReport(plan);
    if (!plan.ok) {
      const errors = plan.issues.filter((issue) => issue.severity === "error");
      throw new Error(`cannot merge: ${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more errors above)` : ""}`);
    }
    if (values.check) return;
    const progress = createProgressPrinter(describeProgress);
    const controller = new AbortController();
    // Every read in flight listens to this one signal: a dozen at once is expected, not a leak.
    setMaxListeners(100, controller.signal);
    // Ctrl-C and SIGTERM (kill, a scheduler, a container stop) stop the merge the same way: the
    // unfinished merge and its journal are kept for --resume, and the exit status is a shell's for
    // that signal (130, 143). A second signal ends the process at once.
    const onSignal = (signal: NodeJS.Signals) => controller.abort(Object.assign(new Error(`interrupted by ${signal}`), { exitCode: 128 + osConstants.signals[signal] }));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const sink = await openNodeFolderSink(values.out!, { force: values.force, resume: values.resume });
      const journal = chooseJournal(sink, values.resume);
      const result = await writeMergedModel(plan, sink, {
        shardSize,
        chunkMemory: sharedChunkMemory,
        signal: controller.signal,
        onProgress: progress,
        toolVersion: TOOL_VERSION,
        journal,
        checkpointBytes,
        onResume: (report) => {
          const continued = report.continuedFile ? `, ${report.continuedFile} continued from its last checkpoint` : "";
          process.stderr.write(
            `resuming ${sink.partial}: ${report.verifiedFiles.length} finished shard(s) verified${continued}; ${formatBytes(report.bytesDone)} of ${formatBytes(report.bytesTotal)} already done\n`,
          );
        },
      }).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        if (error instanceof ResumeError) throw new Error(`cannot resume ${sink.partial}: ${reason}. Merge without --resume to start again (this removes it).`);
        const exitCode = (error as { exitCode?: number }).exitCode;
        throw Object.assign(new Error(`${reason}; the unfinished merge is kept in ${sink.partial}: run the same command with --resume to continue it`), { exitCode });
      });
      progress.finish();
      const gbps = result.bytesWritten / result.seconds / 1e9;
      process.stderr.write(
        `wrote ${result.location}: ${Object.keys(result.files).length} files, ${formatBytes(result.bytesWritten)} of weights in ${result.seconds.toFixed(1)} s (${gbps.toFixed(2)} GB/s)\n`,
      );
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  } finally {
    await Promise.all(sources.map((source) => source.close?.()));
  }
}

/**
 * Whether to resume the merge in OUT.partial or start anew, saying which on stderr, from what the
 * sink found there. Without --resume an unfinished merge of this tool is replaced, as it always
 * was: it holds nothing but output this command can write again, and refusing would break the
 * documented retry (`merge` after a failed `--resume`). With --resume and no journal to resume
 * from, the merge starts from the beginning, so that a retry loop can pass --resume always.
 */
function chooseJournal(sink: NodeFolderSink, resume: boolean): "start" | "resume" {
  const { partial, found } = sink;
  if (resume && found.kind === "journal") return "resume";
  const forced = found.kind === "foreign" ? `${partial} was not an unfinished merge of this tool (${found.reason}): removed it (--force)` : undefined;
  if (resume) {
    const why = forced ?? (found.kind === "empty" ? `${partial} was empty` : `no ${partial}`);
    process.stderr.write(`nothing to resume: ${why}; starting the merge from the beginning\n`);
  } else if (found.kind === "journal") process.stderr.write(`removing the unfinished merge in ${partial} and starting again (pass --resume to continue it instead)\n`);
  else if (found.kind === "empty") process.stderr.write(`removing ${partial}, an empty folder left by an earlier merge\n`);
  else if (forced) process.stderr.write(`${forced}; starting the merge\n`);
  return "start";
}

function printReport(plan: MergePlan): void {
  const lines: string[] = [];
  const summaries = labelledInputs(plan.summaries);
  const width = Math.max(...summaries.map(({ label }) => label.length));
  for (const { label, value: s } of summaries) {
    lines.push(
      `${label.padEnd(width)} ${s.label}: ${s.architecture}, ${s.layers ?? "?"} layers, hidden ${s.hiddenSize ?? "?"}, vocab ${s.vocabRows ?? "?"}, ` +
        `${(s.parameterCount / 1e6).toFixed(1)}M params, ${s.dtypes.join("/")}, ${formatBytes(s.weightBytes)} in ${s.shardCount} file(s)${s.tieWordEmbeddings ? ", tied embeddings" : ""}`,
    );
  }
  const marks = { error: "✗", warning: "!", info: "·" };
  for (const issue of plan.issues) lines.push(`${marks[issue.severity]} ${issue.message}`);
  const merged = plan.tensors.filter((tensor) => tensor.mergedElements > 0).length;
  lines.push(plan.ok ? `compatible: ${merged} of ${plan.tensors.length} tensors merged, the rest copied from the target` : "not compatible");
  // Labels and messages come from the inputs (a folder path, a tensor name): one line each, escaped.
  process.stderr.write(`${lines.map((line) => oneLineMessage(line)).join("\n")}\n`);
}

function describeProgress(p: MergeProgress): string {
  const percent = p.bytesTotal > 0 ? (100 * p.bytesDone) / p.bytesTotal : 100;
  const eta = p.bytesPerSecond > 0 ? (p.bytesTotal - p.bytesDone) / p.bytesPerSecond : 0;
  return `${percent.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}  ${(p.bytesPerSecond / 1e9).toFixed(2)} GB/s  ETA ${eta.toFixed(0)} s  ${oneLineMessage(p.tensor)}`;
}
