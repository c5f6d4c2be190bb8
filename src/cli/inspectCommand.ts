import { setMaxListeners } from "node:events";
import { rename, writeFile } from "node:fs/promises";
import { inspectionRecipe } from "../core/inspect/inspectionRecipe.ts";
import { inspectVectors, type InspectionProgress } from "../core/inspect/inspectVectors.ts";
import { LAYER_MODULES, type VectorInspection } from "../core/inspect/VectorInspection.ts";
import { oneLineMessage } from "../core/messages/safeText.ts";
import { openModelSource } from "../core/node/openModelSource.ts";
import { openAndPlan } from "../core/plan/openAndPlan.ts";
import type { ModelSource } from "../core/sources/ModelSource.ts";
import { createProgressPrinter } from "./progressPrinter.ts";
import { formatBytes } from "./format.ts";
import { createHubStatusPrinter } from "./hubStatusPrinter.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";
import { RECIPE_ARG_OPTIONS, readRecipeArgs } from "./recipeArgs.ts";

/** Tensors listed under "largest relative changes", per vector. */
const LARGEST_SHOWN = 8;

/**
 * `merge-studio inspect`: the statistics of the recipe's raw vectors (src/core/inspect), without
 * merging. Prints a summary on stdout; `--json FILE` writes the whole VectorInspection, through
 * FILE.partial renamed when complete.
 */
export async function inspectCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({ args, options: { ...RECIPE_ARG_OPTIONS, json: { type: "string" }, "hub-url": { type: "string" } } });
  const recipe = await readRecipeArgs(values);
  const hub = { hubUrl: values["hub-url"], accessToken: process.env.HF_TOKEN || undefined, onStatus: createHubStatusPrinter() };
  const controller = new AbortController();
  // Every read in flight listens to this one signal: a dozen at once is expected, not a leak.
  setMaxListeners(100, controller.signal);
  const onSignal = (signal: NodeJS.Signals) => controller.abort(new Error(`interrupted by ${signal}`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let sources: ModelSource[] = [];
  try {
    const opened = await openAndPlan(inspectionRecipe(recipe), (spec, label) => openModelSource(spec, hub, label), controller.signal);
    sources = opened.sources;
    const { plan } = opened;
    if (!plan.ok) {
      const errors = plan.issues.filter((issue) => issue.severity === "error");
      throw new Error(`cannot inspect: ${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ""}`);
    }
    const progress = createProgressPrinter(describeProgress);
    const inspection = await inspectVectors(plan, { signal: controller.signal, onProgress: progress });
    progress.finish();
    if (values.json !== undefined) {
      const partial = `${values.json}.partial`;
      await writeFile(partial, `${JSON.stringify(inspection, null, 1)}\n`);
      await rename(partial, values.json);
    }
    process.stdout.write(`${summarize(inspection).map((line) => oneLineMessage(line)).join("\n")}\n`);
    if (values.json !== undefined) process.stderr.write(`wrote ${values.json}\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await Promise.all(sources.map((source) => source.close?.()));
  }
}

const number = (value: number | null) => (value === null ? "n/a" : value === 0 ? "0" : Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4 ? value.toPrecision(4) : value.toExponential(3));
const percent = (value: number | null) => (value === null ? "n/a" : `${(100 * value).toFixed(2)}%`);

/** The compact summary: per vector its totals, largest relative changes and per-module means; pairs' cosine and sign agreement. */
function summarize(inspection: VectorInspection): string[] {
  const lines: string[] = [];
  const { total, tensors, cells } = inspection;
  lines.push(`target ${inspection.inputs.target}: ${tensors.length} tensors inspected (${total.elements} elements), ${inspection.skipped.length} skipped; raw vectors v = fl32(plus - minus)`);
  for (const [j, { plus, minus }] of inspection.inputs.vectors.entries()) {
    const stats = total.vectors[j]!;
    lines.push("");
    lines.push(`vector ${j}: ${plus} - ${minus}`);
    lines.push(
      `  ||v|| ${number(stats.norm)}, ||v||/||target|| ${number(stats.relativeNorm)}, max |v| ${number(stats.maxAbs)}, zeros ${percent(stats.zeroShare)}` +
        (stats.nonFinite > 0 ? `, ${stats.nonFinite} NaN/Inf elements left out` : ""),
    );
    const largest = [...tensors].sort((a, b) => (b.vectors[j]!.relativeNorm ?? -1) - (a.vectors[j]!.relativeNorm ?? -1)).slice(0, LARGEST_SHOWN);
    lines.push(`  largest relative changes (||v||/||target|| per tensor):`);
    for (const tensor of largest) lines.push(`    ${number(tensor.vectors[j]!.relativeNorm).padStart(10)}  ${tensor.name}`);
    const moduleLines: string[] = [];
    for (const module of LAYER_MODULES) {
      const values = cells.filter((cell) => cell.layer !== null && cell.module === module).map((cell) => cell.vectors[j]!.relativeNorm);
      const known = values.filter((value): value is number => value !== null);
      if (known.length === 0) continue;
      const mean = known.reduce((sum, value) => sum + value, 0) / known.length;
      moduleLines.push(`${module} ${number(mean)} [${number(Math.min(...known))} .. ${number(Math.max(...known))}]`);
    }
    for (const cell of cells.filter((cell) => cell.layer === null)) moduleLines.push(`${cell.module === "norms" ? "final norm" : cell.module} ${number(cell.vectors[j]!.relativeNorm)}`);
    lines.push(`  per module, ||v||/||target|| (mean over layers [min .. max]): ${moduleLines.join(", ")}`);
  }
  if (total.pairs.length > 0) {
    lines.push("");
    lines.push("between vectors (whole model): cosine, sign agreement where both are non-zero");
    for (const [k, pair] of total.pairs.entries()) {
      lines.push(`  ${pair.vectors[0]} and ${pair.vectors[1]}: cosine ${number(pair.cosine)}, same sign ${percent(pair.signAgreement)}`);
      const moduleMeans = LAYER_MODULES.flatMap((module) => {
        const known = cells.filter((cell) => cell.layer !== null && cell.module === module).flatMap((cell) => (cell.pairs[k]!.cosine === null ? [] : [cell.pairs[k]!.cosine!]));
        return known.length === 0 ? [] : [`${module} ${number(known.reduce((sum, value) => sum + value, 0) / known.length)}`];
      });
      lines.push(`    cosine per module (mean over layers): ${moduleMeans.join(", ")}`);
    }
  }
  return lines;
}

function describeProgress(p: InspectionProgress): string {
  const percentDone = p.bytesTotal > 0 ? (100 * p.bytesRead) / p.bytesTotal : 100;
  const rate = p.elapsedSeconds > 0 ? p.bytesRead / p.elapsedSeconds : 0;
  return `${percentDone.toFixed(1).padStart(5)}%  ${formatBytes(p.bytesRead)} / ${formatBytes(p.bytesTotal)} read  ${(rate / 1e9).toFixed(2)} GB/s  ${oneLineMessage(p.tensor)}`;
}
