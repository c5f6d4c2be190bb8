import { createHash } from "node:crypto";
import { lstat, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { quoteName } from "../core/messages/safeText.ts";
import { acquireFolderLock } from "../core/node/acquireFolderLock.ts";
import { fileSystemError } from "../core/node/fileSystemError.ts";
import { outputFolderPaths } from "../core/node/outputFolderPaths.ts";
import { RECIPE_FILE_NAME } from "../core/output/renderMergeRecipe.ts";
import { JOURNAL_FILE_NAME } from "../core/sinks/FolderSink.ts";
import type { MetricScore } from "../eval/report/EvalReport.ts";
import { readEvalReport } from "../eval/report/readEvalReport.ts";
import { MODEL_CARD_FILE_NAME, recordEvaluation } from "../eval/report/recordEvaluation.ts";
import { UsageError } from "./format.ts";
import { parseCommandArgs } from "./parseCommandArgs.ts";

/**
 * `merge-studio record --out DIR --report REPORT.json [--name NAME] [--source-url URL]`: writes the
 * report's results for the merge in DIR into DIR/README.md (model-index, table) and
 * DIR/merge_recipe.json (evaluation), each replaced atomically (temporary file, then rename).
 */
export async function recordCommand(args: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: { out: { type: "string" }, report: { type: "string" }, name: { type: "string" }, "source-url": { type: "string" } },
  });
  if (values.out === undefined) throw new UsageError("--out is required: the folder of a finished merge");
  if (values.report === undefined) throw new UsageError("--report is required: the JSON report of `merge-studio eval --json` or of the studio");
  const sourceUrl = values["source-url"];
  if (sourceUrl !== undefined && !URL.canParse(sourceUrl)) throw new UsageError(`--source-url must be a URL, got "${sourceUrl}"`);
  const { out, lock: lockPath } = outputFolderPaths(values.out);
  const reportBytes = await readFile(values.report).catch((error: unknown) => {
    throw fileSystemError(error, values.report!, "read the report");
  });
  const report = readEvalReport(new TextDecoder().decode(reportBytes), values.report);
  const lock = await acquireFolderLock(lockPath, out);
  try {
    const files = await readFinishedMerge(out);
    const recorded = await recordEvaluation(files, report, {
      modelName: values.name ?? basename(out),
      sourceUrl,
      reportSource: values.report,
      reportSha256: createHash("sha256").update(reportBytes).digest("hex"),
    });
    // The card first, then the record that names its new SHA-256: a record never names a card not yet written.
    await replaceFile(join(out, MODEL_CARD_FILE_NAME), recorded.readme);
    await replaceFile(join(out, RECIPE_FILE_NAME), recorded.recipeJson);
    const { merge, target } = recorded.evaluated;
    const summary = (label: string, score: MetricScore) => `${label}: ${score.metric} ${(score.accuracy * 100).toFixed(1)}% (${score.correct}/${score.total})`;
    process.stdout.write(`recorded ${report.task.name} in ${join(out, MODEL_CARD_FILE_NAME)} and ${join(out, RECIPE_FILE_NAME)}\n`);
    if (target) process.stdout.write(`  ${summary(`target (${target.label})`, target.scores[0]!)}\n`);
    process.stdout.write(`  ${summary(`this merge (${merge.label})`, merge.scores[0]!)}\n`);
  } finally {
    await lock.release();
  }
}

/**
 * The card and merge_recipe.json of a finished merge in `out`, or an error saying why `out` is not
 * one: not a folder, a merge journal still there (unfinished), no merge_recipe.json with the
 * record of the files a merge wrote, or one of those files missing or of another size than written.
 */
async function readFinishedMerge(out: string): Promise<{ readme: string; recipeJson: string }> {
  const info = await stat(out).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`${out} is not a folder: give the folder a merge wrote (merge-studio merge --out DIR)`);
  if (await lstat(join(out, JOURNAL_FILE_NAME)).then(() => true, () => false)) {
    throw new Error(`${out} holds ${JOURNAL_FILE_NAME}: the merge there is unfinished (resume it with merge --resume first)`);
  }
  const read = (name: string) =>
    readFile(join(out, name), "utf8").catch((error: unknown) => {
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      throw missing ? new Error(`${out} has no ${name}, so it is not a finished merge of merge-studio`) : fileSystemError(error, join(out, name), "read");
    });
  const recipeJson = await read(RECIPE_FILE_NAME);
  let record: { tool?: { name?: unknown }; files?: unknown };
  try {
    record = JSON.parse(recipeJson) as typeof record;
  } catch (error) {
    throw new Error(`${join(out, RECIPE_FILE_NAME)} is not JSON: ${(error as Error).message}`);
  }
  if (record?.tool?.name !== "merge-studio" || typeof record.files !== "object" || record.files === null) {
    throw new Error(`${join(out, RECIPE_FILE_NAME)} holds no merge record (tool merge-studio, files), so ${out} is not a finished merge of merge-studio`);
  }
  for (const [path, written] of Object.entries(record.files as Record<string, { size?: unknown }>)) {
    if (path === MODEL_CARD_FILE_NAME) continue;
    if (path.split(/[\\/]/).includes("..") || path.startsWith("/")) throw new Error(`${join(out, RECIPE_FILE_NAME)}: files names ${quoteName(path)}, a path outside the folder`);
    const file = await stat(join(out, path)).catch(() => undefined);
    if (!file?.isFile()) throw new Error(`${out} lacks ${quoteName(path)}, which the merge wrote: the folder is not a whole merge`);
    if (file.size !== written?.size) throw new Error(`${join(out, path)} has ${file.size} bytes, not the ${String(written?.size)} the merge wrote: the folder is not the finished merge`);
  }
  return { readme: await read(MODEL_CARD_FILE_NAME), recipeJson };
}

/** Replaces `path` with `text` atomically: written in full to a temporary file beside it, flushed, then renamed over it. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, text, { flush: true });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw fileSystemError(error, path, "replace");
  }
}
