/** A file of a model repository or folder. */
export interface RepoFile {
  /** Path relative to the repository root, with "/" separators. */
  path: string;
  size: number;
}

/**
 * Where a model's files come from: a local folder (Node fs), browser File objects,
 * or a Hub repository pinned to one commit. Everything the merge reads goes through
 * `read`, a byte range of one file, so no source ever loads a whole file.
 */
export interface ModelSource {
  /** What a user calls this model in messages: "org/name@sha" or a folder path. */
  readonly label: string;
  /** The repo id for Hub sources ("org/name"); undefined for local folders. */
  readonly repoId?: string;
  /** The commit sha the source is pinned to (Hub only). */
  readonly revision?: string;
  listFiles(signal?: AbortSignal): Promise<RepoFile[]>;
  /**
   * Reads bytes [offset, offset + length) of `path`; rejects if fewer bytes exist. With `into`
   * (at least `length` bytes), the bytes go there where the source can, so that a merge reuses a
   * few chunk buffers instead of allocating gigabytes; the result may still be another array, and
   * `into` may be detached by the call (a browser's fetch transfers it): use only the result.
   */
  read(path: string, offset: number, length: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array>;
  /** Releases open handles; the source is unusable afterwards. */
  close?(): Promise<void>;
}

/**
 * Largest text file read whole. The largest a model holds is tokenizer.json (about 11 MB for
 * Qwen2.5); a config.json of hundreds of MB is broken or hostile and would not fit in a string.
 */
export const MAX_TEXT_FILE_BYTES = 64 * 2 ** 20;

/** Reads a whole (small) file as UTF-8 text: config.json, tokenizer files, index json. */
export async function readTextFile(source: ModelSource, file: RepoFile, signal?: AbortSignal): Promise<string> {
  if (file.size > MAX_TEXT_FILE_BYTES) {
    throw new Error(`${source.label}: ${file.path} is ${file.size} bytes, more than the ${MAX_TEXT_FILE_BYTES}-byte limit for a text file of a model`);
  }
  const bytes = await source.read(file.path, 0, file.size, signal);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${source.label}: ${file.path} is not valid UTF-8 text`);
  }
}
