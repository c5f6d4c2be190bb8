import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

/**
 * Fills .device/ (npm run device:pack) with everything the device harness needs on a machine with
 * no Node and no network: harness.mjs (bench/device/main.ts bundled with its dependencies, Dawn's
 * `webgpu` package among them), dawn.node for linux-x64, this Node binary, onnxruntime-web's
 * asyncify wasm (its WebGPU build), the Vulkan loader's and glvnd's .debs, and run.sh. Large files are xz'd;
 * run.sh unpacks them. `webgpu` is no dependency of the project: it is fetched with `npm pack`
 * (or taken from --webgpu, a tarball already fetched).
 *
 *   tsx scripts/pack-device.ts [--dest DIR] [--webgpu webgpu-0.6.2.tgz]
 *
 * .device/ must be ignored by git (`/.device/` in .git/info/exclude): the device tool carries it.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEBGPU_PACKAGE = "webgpu@0.6.2";
/**
 * The Vulkan loader and glvnd (NVIDIA's Vulkan driver library needs libGLdispatch), as the device
 * tool's README lists them: the device image may have none of them.
 */
const LOADER_PACKAGES = ["libvulkan1", "libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"];
/** What one device call may carry, working tree included; the harness leaves room for the tree. */
const CARRY_LIMIT_BYTES = 56 * 2 ** 20;

const run = (command: string, args: string[], cwd?: string) => execFileSync(command, args, { cwd, stdio: ["ignore", "pipe", "inherit"] }).toString().trim();
const xz = (from: string, to: string) => execFileSync("sh", ["-c", 'xz -T0 -6 -c "$1" > "$2"', "xz", from, to], { stdio: "inherit" });

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dest: { type: "string", default: join(REPO_ROOT, ".device") }, webgpu: { type: "string" } } });
  const dest = resolve(values.dest);
  const scratch = await mkdtemp(join(tmpdir(), "pack-device-"));
  try {
    const tarball = values.webgpu ? resolve(values.webgpu) : join(scratch, run("npm", ["pack", WEBGPU_PACKAGE, "--pack-destination", scratch, "--silent"]));
    run("tar", ["-xzf", tarball, "-C", scratch, "package/index.js", "package/dist/linux-x64/dawn.node"]);
    const webgpu = join(scratch, "package");

    await rm(dest, { recursive: true, force: true });
    await Promise.all(["dist/linux-x64", "ort", "debs"].map((folder) => mkdir(join(dest, folder), { recursive: true })));
    await build({
      entryPoints: [join(REPO_ROOT, "bench/device/main.ts")],
      outfile: join(dest, "harness.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // onnxruntime-web's build that loads its wasm from ort.env.wasm.wasmPaths rather than inlining it.
      conditions: ["onnxruntime-web-use-extern-wasm"],
      alias: { webgpu: join(webgpu, "index.js") },
      // Bundled CommonJS code calls require() for Node's modules.
      banner: { js: 'import { createRequire as createRequireForBundle } from "node:module"; const require = createRequireForBundle(import.meta.url);' },
      logLevel: "warning",
    });
    xz(join(webgpu, "dist/linux-x64/dawn.node"), join(dest, "dist/linux-x64/dawn.node.xz"));
    xz(process.execPath, join(dest, "node.xz"));
    const ortDist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
    await copyFile(join(ortDist, "ort-wasm-simd-threaded.asyncify.mjs"), join(dest, "ort/ort-wasm-simd-threaded.asyncify.mjs"));
    xz(join(ortDist, "ort-wasm-simd-threaded.asyncify.wasm"), join(dest, "ort/ort-wasm-simd-threaded.asyncify.wasm.xz"));
    run("apt-get", ["download", ...LOADER_PACKAGES], join(dest, "debs"));
    await copyFile(join(REPO_ROOT, "bench/device/run.sh"), join(dest, "run.sh"));

    let total = 0;
    for (const file of await filesUnder(dest)) {
      const { size } = await stat(file);
      total += size;
      process.stdout.write(`${(size / 2 ** 20).toFixed(1).padStart(7)} MiB  ${relative(dest, file)}\n`);
    }
    process.stdout.write(`${(total / 2 ** 20).toFixed(1).padStart(7)} MiB  in ${dest}\n`);
    if (total > CARRY_LIMIT_BYTES) throw new Error(`${dest} holds ${(total / 2 ** 20).toFixed(1)} MiB, over the ${CARRY_LIMIT_BYTES / 2 ** 20} MiB a device call can carry next to the working tree`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`pack-device: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
