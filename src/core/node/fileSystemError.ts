/**
 * A file system error as one clear sentence naming the path and the reason in words, instead of
 * Node's "ENOSPC: no space left on device, write". The original error is kept as `cause`, and its
 * `code` is kept, so callers can still tell the kinds apart.
 */
export function fileSystemError(error: unknown, path: string, doing: string): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reasons: Record<string, string> = {
    ENOSPC: "the disk is full (no space left on the device)",
    EDQUOT: "the disk quota is used up",
    EROFS: "not writable: the file system is read-only",
    EACCES: "not writable: permission denied",
    EPERM: "not writable: the operation is not permitted there",
    EFBIG: "the file is larger than the file system allows",
    EIO: "an input/output error from the disk",
    ENOTDIR: "a part of the path is a file, not a folder",
    EISDIR: "it is a folder, not a file",
  };
  const reason = (code && reasons[code]) ?? (error instanceof Error ? error.message : String(error));
  const wrapped = new Error(`cannot ${doing} ${path}: ${reason}`, { cause: error });
  if (code) Object.assign(wrapped, { code });
  return wrapped;
}
