import { openOpfsMergesFolder } from "../../core/sinks/openOpfsFolderSink.ts";

/**
 * Which tab owns which entry of OPFS merges/: a tab holds a Web Lock named after each merge folder
 * it writes or keeps (its zip, `<folder>.zip`, goes with it). The browser releases a tab's locks
 * when the tab closes or crashes, so an entry whose lock is free belongs to no open tab and can be
 * removed; one whose lock is held is never touched.
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

/** Gives up this tab's hold on a merge folder (after its entries are removed). */
export function disownMergeFolder(name: string): void {
  release(name);
}

/**
 * Removes the merges of tabs that are gone: every entry of merges/ whose lock no open tab holds.
 * Returns the names removed.
 */
export async function removeOrphanedMerges(): Promise<string[]> {
  const merges = await openOpfsMergesFolder();
  const entriesByOwner = new Map<string, string[]>();
  for await (const name of merges.keys()) {
    const owner = name.endsWith(".zip") ? name.slice(0, -".zip".length) : name;
    entriesByOwner.set(owner, [...(entriesByOwner.get(owner) ?? []), name]);
  }
  const removed: string[] = [];
  for (const [owner, names] of entriesByOwner) {
    if (releases.has(owner) || !(await claim(owner))) continue;
    try {
      for (const name of names) {
        await merges.removeEntry(name, { recursive: true });
        removed.push(name);
      }
    } finally {
      release(owner);
    }
  }
  return removed;
}

let startupSweep: Promise<string[]> | undefined;

/** removeOrphanedMerges, run once when the page starts; later calls return the same promise. */
export function sweepOrphanedMergesOnce(): Promise<string[]> {
  startupSweep ??= removeOrphanedMerges();
  return startupSweep;
}
