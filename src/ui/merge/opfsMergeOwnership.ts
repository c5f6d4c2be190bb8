import { parseMergeJournal, type MergeJournal } from "../../core/engine/mergeJournal.ts";
import { JOURNAL_FILE_NAME } from "../../core/sinks/FolderSink.ts";
import { openOpfsMergesFolder, readOpfsJournal } from "../../core/sinks/openOpfsFolderSink.ts";

/**
 * Which tab owns which entry of OPFS merges/: a tab holds a Web Lock named after each merge folder
 * it writes or keeps (its zip, `<folder>.zip`, goes with it). The browser releases a tab's locks
 * when the tab closes or crashes, so an entry whose lock is free belongs to no open tab: it is
 * removed, unless it is an unfinished merge with a journal (a tab closed mid-merge, a merge that
 * failed), which any tab may resume; of those, the newest per recipe is kept. One whose lock is
 * held is never touched.
 */
const LOCK_PREFIX = "merge-studio:opfs-merge:";
const releases = new Map<string, () => void>();

/** Takes the lock of `name` if no tab holds it; false if one does. */
function claim(name: string): Promise<boolean> {
  return new Promise((claimed, failed) => {
    navigator.locks
      .request(LOCK_PREFIX + name, { ifAvailable: true }, (lock) => {
        if (!lock) return claimed(false);
        return new Promise<void>((release) => {
          releases.set(name, release);
          claimed(true);
        });
      })
      .catch(failed);
  });
}

function release(name: string): void {
  releases.get(name)?.();
  releases.delete(name);
}

async function entryExists(merges: FileSystemDirectoryHandle, name: string): Promise<boolean> {
  for await (const existing of merges.keys()) if (existing === name) return true;
  return false;
}

/**
 * A folder name under merges/ that is free and now owned by this tab: `baseName`, or if that is
 * taken, `baseName-2`, `-3`... Held until `disownMergeFolder`.
 */
export async function reserveMergeFolder(baseName: string): Promise<string> {
  const merges = await openOpfsMergesFolder();
  for (let n = 1; ; n++) {
    const name = n === 1 ? baseName : `${baseName}-${n}`;
    if (!(await claim(name))) continue;
    if (!(await entryExists(merges, name)) && !(await entryExists(merges, `${name}.zip`))) return name;
    release(name);
  }
}

/** Takes the hold on an existing merge folder (to resume it); false if another tab holds it. */
export async function claimMergeFolder(name: string): Promise<boolean> {
  return releases.has(name) || claim(name);
}

/** Gives up this tab's hold on a merge folder (after its entries are removed, or to leave an unfinished merge to any tab). */
export function disownMergeFolder(name: string): void {
  release(name);
}

/** An unfinished merge in OPFS: its folder, its journal, and when the journal was last written. */
export interface UnfinishedMerge {
  folder: string;
  journal: MergeJournal;
  modified: number;
}

/** The journal of merges/<name>/, if it is a folder with a readable one. */
async function readUnfinishedMerge(merges: FileSystemDirectoryHandle, name: string): Promise<UnfinishedMerge | undefined> {
  const folder = await merges.getDirectoryHandle(name).catch(() => undefined);
  const journal = folder && (await readOpfsJournal(folder));
  if (!journal) return undefined;
  try {
    return { folder: name, journal: parseMergeJournal(journal.text, `merges/${name}/${JOURNAL_FILE_NAME}`), modified: journal.modified };
  } catch {
    return undefined;
  }
}

/** The unfinished merges in OPFS that no tab holds, newest first. */
export async function listUnfinishedMerges(): Promise<UnfinishedMerge[]> {
  const merges = await openOpfsMergesFolder();
  const held = new Set(((await navigator.locks.query()).held ?? []).map((lock) => lock.name));
  const found: UnfinishedMerge[] = [];
  for await (const name of merges.keys()) {
    if (name.endsWith(".zip") || held.has(LOCK_PREFIX + name)) continue;
    const unfinished = await readUnfinishedMerge(merges, name);
    if (unfinished) found.push(unfinished);
  }
  return found.sort((a, b) => b.modified - a.modified);
}

/**
 * Removes the merges of tabs that are gone: every entry of merges/ whose lock no open tab holds,
 * except unfinished merges with a journal, of which the newest per recipe is kept. Returns the
 * names removed.
 */
export async function removeOrphanedMerges(): Promise<string[]> {
  const merges = await openOpfsMergesFolder();
  const entriesByOwner = new Map<string, string[]>();
  for await (const name of merges.keys()) {
    const owner = name.endsWith(".zip") ? name.slice(0, -".zip".length) : name;
    entriesByOwner.set(owner, [...(entriesByOwner.get(owner) ?? []), name]);
  }
  const claimed: string[] = [];
  const removed: string[] = [];
  try {
    const unfinished: UnfinishedMerge[] = [];
    const orphans: string[] = [];
    for (const owner of entriesByOwner.keys()) {
      if (releases.has(owner) || !(await claim(owner))) continue;
      claimed.push(owner);
      const merge = await readUnfinishedMerge(merges, owner);
      if (merge) unfinished.push(merge);
      else orphans.push(owner);
    }
    const recipes = new Set<string>();
    for (const merge of unfinished.sort((a, b) => b.modified - a.modified)) {
      const recipe = JSON.stringify(merge.journal.identity);
      if (recipes.has(recipe)) orphans.push(merge.folder);
      recipes.add(recipe);
    }
    for (const owner of orphans) {
      for (const name of entriesByOwner.get(owner)!) {
        await merges.removeEntry(name, { recursive: true });
        removed.push(name);
      }
    }
  } finally {
    for (const owner of claimed) release(owner);
  }
  return removed;
}

let startupSweep: Promise<string[]> | undefined;

/** removeOrphanedMerges, run once when the page starts; later calls return the same promise. */
export function sweepOrphanedMergesOnce(): Promise<string[]> {
  startupSweep ??= removeOrphanedMerges();
  return startupSweep;
}
