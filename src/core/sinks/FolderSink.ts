/** Size and SHA-256 (lower-case hex) of a written file. */
export interface WrittenFile {
  size: number;
  sha256: string;
}

/** One output file being written, in order, front to back. */
export interface FileSink {
  write(bytes: Uint8Array): Promise<void>;
  /**
   * The size and SHA-256 of the bytes written so far, taken when called; resolves once those bytes
   * are durable (flushed to the storage). Writing may go on meanwhile.
   */
  checkpoint(): Promise<WrittenFile>;
  /** Closes the file (after any checkpoint in flight) and returns its size and SHA-256. */
  close(): Promise<WrittenFile>;
}

/** The journal of an unfinished merge, kept in its output folder (see src/core/engine/mergeJournal.ts). */
export const JOURNAL_FILE_NAME = "merge-journal.json";

/**
 * Where a merged model folder is written: a Node folder, a browser directory handle or OPFS.
 * Nothing written counts until `commit`: a sink writes into a partial location that only
 * `commit` makes look complete, and `abort` removes. `keep` leaves it for a later resume.
 */
export interface FolderSink {
  createFile(path: string): Promise<FileSink>;
  /**
   * Reopens a file of an interrupted merge to go on writing it: checks that its first
   * `prefix.size` bytes have SHA-256 `prefix.sha256` (else throws a ResumeError naming the file),
   * drops any bytes after them, and appends from there.
   */
  reopenFile(path: string, prefix: WrittenFile): Promise<FileSink>;
  /** Checks that a file of an interrupted merge is exactly `expected` (else throws a ResumeError naming the file). */
  verifyFile(path: string, expected: WrittenFile): Promise<void>;
  /** The journal text, or undefined when there is none. */
  readJournal(): Promise<string | undefined>;
  /** Replaces the journal atomically (a reader sees the old text or the new, never a mix). */
  writeJournal(text: string): Promise<void>;
  /** Removes the journal and makes the output complete and visible; returns where it now is. */
  commit(): Promise<string>;
  abort(): Promise<void>;
  /** Closes the open files and leaves the unfinished output, journal included, for a later resume. */
  keep(): Promise<void>;
}

/** An unfinished merge that cannot be resumed: another recipe, other inputs, or a file changed since it was written. */
export class ResumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResumeError";
  }
}
