/** Size and SHA-256 (lower-case hex) of a written file. */
export interface WrittenFile {
  size: number;
  sha256: string;
}

/** One output file being written, in order, front to back. */
export interface FileSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<WrittenFile>;
}

/**
 * Where a merged model folder is written: a Node folder, a browser directory handle or OPFS.
 * Nothing written counts until `commit`: a sink writes into a partial location that only
 * `commit` makes look complete, and `abort` removes.
 */
export interface FolderSink {
  createFile(path: string): Promise<FileSink>;
  /** Makes the output complete and visible; returns where it now is. */
  commit(): Promise<string>;
  abort(): Promise<void>;
}
