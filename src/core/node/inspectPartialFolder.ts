import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { FILES_COPIED_FROM_TARGET } from "../output/renderMergedConfig.ts";
import { RECIPE_FILE_NAME } from "../output/renderMergeRecipe.ts";
import { INDEX_FILE_NAME } from "../safetensors/planShards.ts";
import { JOURNAL_FILE_NAME } from "../sinks/FolderSink.ts";

/**
 * What an existing `OUT.partial` holds, as far as removing it is concerned:
 * - `absent`: nothing there;
 * - `empty`: an empty folder (a merge stopped before writing anything);
 * - `journal`: an unfinished merge of this tool: a merge journal, and nothing but the files that
 *   merge writes (the journal's shards, index, config, tokenizer files, model card, recipe);
 * - `foreign`: anything else (no journal, or other files): not this tool's to delete. `reason` says why.
 */
export type PartialFolderState = { kind: "absent" } | { kind: "empty" } | { kind: "journal" } | { kind: "foreign"; reason: string };

const ALWAYS_WRITTEN = [INDEX_FILE_NAME, "config.json", "README.md", RECIPE_FILE_NAME, JOURNAL_FILE_NAME, `${JOURNAL_FILE_NAME}.tmp`, ...FILES_COPIED_FROM_TARGET];

export async function inspectPartialFolder(partial: string): Promise<PartialFolderState> {
  const info = await lstat(partial).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (!info) return { kind: "absent" };
  if (info.isSymbolicLink()) return { kind: "foreign", reason: "it is a symbolic link" };
  if (!info.isDirectory()) return { kind: "foreign", reason: "it is not a folder" };
  const entries = await readdir(partial, { withFileTypes: true });
  if (entries.length === 0) return { kind: "empty" };
  const journal = await readFile(join(partial, JOURNAL_FILE_NAME), "utf8").catch(() => undefined);
  if (journal === undefined) return { kind: "foreign", reason: `it holds no ${JOURNAL_FILE_NAME}, so it is not an unfinished merge of this tool` };
  const shards = journalShardFiles(journal);
  if (!shards) return { kind: "foreign", reason: `its ${JOURNAL_FILE_NAME} is not a merge journal` };
  const expected = new Set([...ALWAYS_WRITTEN, ...shards]);
  const others = entries.filter((entry) => !expected.has(entry.name) || entry.isDirectory());
  if (others.length > 0) {
    const names = others.slice(0, 3).map((entry) => JSON.stringify(entry.name)).join(", ");
    return { kind: "foreign", reason: `it holds files a merge does not write (${names}${others.length > 3 ? `, and ${others.length - 3} more` : ""})` };
  }
  return { kind: "journal" };
}

/** The shard file names a journal's merge writes, or undefined when the text is not a journal. */
function journalShardFiles(text: string): string[] | undefined {
  try {
    const files = (JSON.parse(text) as { identity?: { recipe?: { shard_files?: unknown } } }).identity?.recipe?.shard_files;
    return Array.isArray(files) && files.every((file) => typeof file === "string") ? files : undefined;
  } catch {
    return undefined;
  }
}
