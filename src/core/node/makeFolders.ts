import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { fileSystemError } from "./fileSystemError.ts";

/**
 * Creates a folder and any missing parents, one at a time. Not `mkdir(path, { recursive: true })`:
 * under /proc, where mkdir answers ENOENT, Node 20's recursive mkdir loops forever, and elsewhere it
 * reports a read-only parent as ENOENT. Errors name the folder that could not be made and why.
 */
export async function makeFolders(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      if (!(await stat(path)).isDirectory()) throw fileSystemError(Object.assign(new Error("exists"), { code: "ENOTDIR" }), path, "create the folder");
      return;
    }
    const parent = dirname(path);
    if (code === "ENOENT" && parent !== path && !(await stat(parent).then(() => true, () => false))) {
      await makeFolders(parent);
      return makeFolders(path);
    }
    // ENOENT with the parent present: a file system that makes no folders (/proc), i.e. not writable.
    throw fileSystemError(code === "ENOENT" ? Object.assign(new Error("no such file"), { code: "EPERM" }) : error, path, "create the folder");
  }
}
