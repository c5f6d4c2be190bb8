import { basename, normalize, parse, sep } from "node:path";

/** Where a merge into an output folder writes: the folder, its partial form, and the lock that keeps two merges apart. */
export interface OutputFolderPaths {
  /** The folder as given, normalised: `out/`, `out//` and `./out/` are all `out`. */
  out: string;
  /** `OUT.partial`: written into, renamed to `out` when complete. */
  partial: string;
  /** `OUT.lock`: created exclusively by the merge that writes `out`, holding its pid. */
  lock: string;
}

/**
 * Normalises an output folder path (trailing and doubled separators, `./`) so that `OUT.partial` is
 * a sibling of OUT and not a folder inside it. A path that names no folder of its own (empty, `.`,
 * `..`, a file system root) is refused: its `.partial` and `--force` would reach outside it.
 */
export function outputFolderPaths(given: string): OutputFolderPaths {
  let out = normalize(given);
  while (out.length > 1 && out.endsWith(sep) && out !== parse(out).root) out = out.slice(0, -1);
  const name = basename(out);
  if (given.trim() === "" || name === "" || name === "." || name === ".." || out === parse(out).root) {
    throw new Error(`output folder "${given}" names no folder of its own (it is empty, ".", ".." or a root); give a new folder's path, e.g. ./merged`);
  }
  return { out, partial: `${out}.partial`, lock: `${out}.lock` };
}
