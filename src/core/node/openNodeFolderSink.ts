import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { FileSink, FolderSink } from "../sinks/FolderSink.ts";

/**
 * Writes into `OUT.partial/` and renames it to `OUT/` on commit, so an interrupted merge never
 * leaves a folder that looks complete. An existing OUT is refused unless `force`.
 */
export async function openNodeFolderSink(outDir: string, options: { force?: boolean } = {}): Promise<FolderSink> {
  const exists = await stat(outDir).then(() => true, () => false);
  if (exists && !options.force) {
    throw new Error(`${outDir} already exists; choose another output folder or pass --force to replace it`);
  }
  const partial = `${outDir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });

  return {
    async createFile(path) {
      const full = join(partial, path);
      await mkdir(dirname(full), { recursive: true });
      const handle = await open(full, "w");
      const hash = createHash("sha256");
      let size = 0;
      const sink: FileSink = {
        async write(bytes) {
          hash.update(bytes);
          let done = 0;
          while (done < bytes.byteLength) {
            const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
            done += bytesWritten;
          }
          size += bytes.byteLength;
        },
        async close() {
          await handle.close();
          return { size, sha256: hash.digest("hex") };
        },
      };
      return sink;
    },
    async commit() {
      if (options.force) await rm(outDir, { recursive: true, force: true });
      await rename(partial, outDir);
      return outDir;
    },
    async abort() {
      await rm(partial, { recursive: true, force: true });
    },
  };
}
