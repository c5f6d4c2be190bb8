import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { link, open, readFile, rename, unlink } from "node:fs/promises";
import { fileSystemError } from "./fileSystemError.ts";

export interface FolderLock {
  readonly path: string;
  /** Removes the lock file, if it is still this lock's. */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  host: string;
  started: string;
  token: string;
}

/** The output folder is being written by another live process. */
export class FolderLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FolderLockedError";
  }
}

/**
 * Takes the lock file `path` (created with O_EXCL, holding this process's pid, host and a random
 * token), so that two merges never write the same output folder. A lock left by a process of this
 * host that no longer runs (killed with -9, a crash) is taken over: it is first moved aside under a
 * name of this process's own, and only if the moved file is still that stale lock is it dropped, so
 * two processes taking over the same stale lock at once cannot both win. `what` names the folder in
 * the refusal.
 */
export async function acquireFolderLock(path: string, what: string): Promise<FolderLock> {
  const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), token: randomUUID() };
  const text = `${JSON.stringify(owner)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(path, "wx");
      try {
        await handle.writeFile(text);
      } finally {
        await handle.close();
      }
      heldTokens.add(owner.token);
      return {
        path,
        async release() {
          heldTokens.delete(owner.token);
          const current = await readFile(path, "utf8").catch(() => undefined);
          if (current === text) await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw fileSystemError(error, path, "create the lock file");
    }
    const seen = await readFile(path, "utf8").catch(() => undefined);
    if (seen === undefined) continue;
    const holder = parseOwner(seen);
    if (!holder || holder.host !== hostname() || isHeld(holder)) {
      const who = holder ? `process ${holder.pid}${holder.host !== hostname() ? ` on ${holder.host}` : ""}, since ${holder.started}` : "a process this tool cannot identify";
      throw new FolderLockedError(
        `${what} is being written by another merge (${who}): lock file ${path}. Wait for it to end; if no merge is running (the pid now belongs to another program), remove the lock file`,
      );
    }
    await takeOverStale(path, seen);
  }
  throw new FolderLockedError(`${what}: the lock file ${path} keeps changing: another merge is starting at the same time`);
}

async function takeOverStale(path: string, stale: string): Promise<void> {
  const aside = `${path}.${process.pid}.${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch {
    return; // Someone else moved it first: try again from the start.
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  // A fresh lock taken by a faster process between our read and the move: put it back.
  if (moved !== stale) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isSafeInteger(value.pid) && typeof value.host === "string" && typeof value.started === "string" && typeof value.token === "string") return value as LockOwner;
  } catch {
    // Not a lock this tool wrote.
  }
  return undefined;
}

/** Tokens of the locks this process holds. */
const heldTokens = new Set<string>();

/**
 * Whether the lock's holder still runs. A lock naming this very pid is held only if this process
 * took it; otherwise it is a stale one of an earlier process that had the same pid (a container
 * restarted). Another pid is held while a process with it exists (EPERM: another user's).
 */
function isHeld({ pid, token }: LockOwner): boolean {
  if (pid === process.pid) return heldTokens.has(token);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
