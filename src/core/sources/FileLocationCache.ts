import type { RepoFile } from "./ModelSource.ts";
import { withSignal } from "./withSignal.ts";

/** Where a file's bytes are read from, once resolved. */
export interface FileLocation {
  url: string;
  /** On the Hub's own origin: it gets the token, and its answers carry the file's identity. */
  hubOrigin: boolean;
  /** Resolve again from this time on (this machine's clock); undefined: the URL does not expire. */
  renewAt?: number;
  /** The ETag of the first answer from a URL on another origin (a CDN's own ETag): later answers must match. */
  etag?: string;
}

/** One resolution per file shared by every read, until a read finds it stale and forgets it. */
export class FileLocationCache {
  private readonly loads = new Map<string, { promise: Promise<FileLocation>; signal: AbortSignal | undefined }>();
  private readonly settled = new Map<string, FileLocation>();
  private readonly resolve: (file: RepoFile, signal: AbortSignal | undefined) => Promise<FileLocation>;

  constructor(resolve: (file: RepoFile, signal: AbortSignal | undefined) => Promise<FileLocation>) {
    this.resolve = resolve;
  }

  /** The file's location. A resolution that another read's abort stopped is started again for this one. */
  async get(file: RepoFile, signal: AbortSignal | undefined): Promise<FileLocation> {
    for (;;) {
      let load = this.loads.get(file.path);
      if (!load) {
        const started = { promise: this.resolve(file, signal), signal };
        this.loads.set(file.path, started);
        started.promise.then(
          (location) => this.settled.set(file.path, location),
          () => {
            if (this.loads.get(file.path) === started) this.loads.delete(file.path);
          },
        );
        load = started;
      }
      try {
        return await withSignal(load.promise, signal);
      } catch (error) {
        if (signal?.aborted || !load.signal?.aborted || load.signal === signal) throw error;
      }
    }
  }

  /** Forgets `location` if it is still the file's current one; true when it was. */
  forget(path: string, location: FileLocation): boolean {
    if (this.settled.get(path) !== location) return false;
    this.settled.delete(path);
    this.loads.delete(path);
    return true;
  }

  clear(): void {
    this.loads.clear();
    this.settled.clear();
  }
}
