import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { openFileListSource } from "../src/core/sources/openFileListSource.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { mergeSources } from "./helpers/mergeFolders.ts";

let root: string;
const roles = ["target", "plus", "minus"] as const;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sources-"));
  const variants = { target: undefined, plus: 1, minus: 2 };
  for (const role of roles) {
    await generateQwen2Model({ dir: join(root, role), shape: QWEN2_PRESETS.tiny, dtype: "F16", initSeed: 9, variantSeed: variants[role], shardSize: 50_000 });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** File objects as a browser's folder picker gives them: webkitRelativePath starts with the folder's name. */
async function pickedFolder(dir: string, folderName: string): Promise<File[]> {
  const files: File[] = [];
  for (const name of await readdir(dir)) {
    const file = new File([await readFile(join(dir, name))], name);
    Object.defineProperty(file, "webkitRelativePath", { value: `${folderName}/${name}` });
    files.push(file);
  }
  return files;
}

describe("browser File sources", () => {
  it("list the folder's files without the folder prefix and read byte ranges", async () => {
    const source = openFileListSource("target", await pickedFolder(join(root, "target"), "target"));
    const listed = await source.listFiles();
    expect(listed.map((file) => file.path)).toEqual((await readdir(join(root, "target"))).sort());
    const index = listed.find((file) => file.path.startsWith("model-00001-of-"))!;
    const onDisk = await readFile(join(root, "target", index.path));
    expect(Buffer.from(await source.read(index.path, 1000, 333)).equals(onDisk.subarray(1000, 1333))).toBe(true);
    await expect(source.read(index.path, index.size - 1, 2)).rejects.toThrow(/wanted bytes .* but the file has/);
    await expect(source.read("missing.json", 0, 1)).rejects.toThrow(/"missing.json" not found/);
  });

  it("merge to the same bytes as folders on disk", async () => {
    const fromFiles = join(root, "out-files");
    const fromFolders = join(root, "out-folders");
    const fileSources = Object.fromEntries(
      await Promise.all(roles.map(async (role) => [role, openFileListSource(role, await pickedFolder(join(root, role), role))])),
    );
    await mergeSources(fileSources as never, { alpha: 0.3, out: fromFiles });
    const folderSources = Object.fromEntries(await Promise.all(roles.map(async (role) => [role, await openFolderSource(join(root, role))])));
    await mergeSources(folderSources as never, { alpha: 0.3, out: fromFolders });
    for (const name of await readdir(fromFolders)) {
      if (name === "merge_recipe.json" || name === "README.md") continue;
      expect((await readFile(join(fromFiles, name))).equals(await readFile(join(fromFolders, name))), name).toBe(true);
    }
  });
});

describe("cancellation", () => {
  it("an abort mid-merge rejects with the reason and leaves no output", async () => {
    const controller = new AbortController();
    const sources = Object.fromEntries(await Promise.all(roles.map(async (role) => [role, await openFolderSource(join(root, role))])));
    const out = join(root, "out-aborted");
    let chunks = 0;
    const merge = mergeSources(sources as never, {
      alpha: 1,
      out,
      signal: controller.signal,
      onProgress: () => {
        if (++chunks === 5) controller.abort(new Error("stopped by the user"));
      },
    });
    await expect(merge).rejects.toThrow("stopped by the user");
    expect(chunks).toBeGreaterThanOrEqual(5);
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(`${out}.partial`)).rejects.toThrow();
  });
});
