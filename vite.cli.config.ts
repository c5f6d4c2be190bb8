import { writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * The CLI as prebuilt JavaScript (`npm run build:cli`): bin/merge-studio.js runs dist-cli/cli/main.js,
 * so a run no longer transpiles the CLI's TypeScript first (through tsx, start-up took about 0.4 s more CPU).
 *
 * Built with Vite's SSR build (Rolldown), since Vite is already the project's bundler: one tool and
 * one config language for the studio and the CLI. Every package of node_modules stays external
 * (`ssr.external: true`; onnxruntime-node must, it loads a native addon) and Node's built-ins too.
 * The commands' dynamic imports stay code-split chunks, so `merge` loads neither onnxruntime-node
 * (evalCommand's) nor undici and @huggingface/hub (Hub sources) when its inputs are local folders.
 *
 * The files sit in dist-cli/cli/, as deep as src/cli/, so that paths the sources resolve against
 * import.meta.url outside src/ (evalCommand's ../../public/data/gsm8k/) name the same files.
 * The only worker the CLI starts (startSha256Worker's) is evaluated from a string: no worker file.
 */

const CLI_OUT_DIR = "dist-cli";
/** Written last, after every chunk: it lists the sources the bundle was built from (see bin/merge-studio.js). */
const CLI_SOURCES_FILE = "sources.json";

/** The JSON of CLI_SOURCES_FILE. */
export interface CliSources {
  /** When the build started (ms since the epoch): a source changed after it makes the bundle stale. */
  builtFrom: number;
  /** Every file the bundle was built from, this config included, relative to the output folder, with "/". */
  sources: string[];
}

function cliSourcesManifest(): Plugin {
  let builtFrom = 0;
  return {
    name: "merge-studio-cli-sources",
    buildStart() {
      builtFrom = Date.now();
    },
    async writeBundle(options) {
      const outDir = options.dir!;
      // Bundled modules have absolute paths as ids; externals keep their specifiers ("node:fs", "undici").
      const ids = [...this.getModuleIds()].filter((id) => isAbsolute(id));
      const files = [...ids, fileURLToPath(import.meta.url)].map((file) => relative(outDir, file).split(sep).join("/"));
      const manifest: CliSources = { builtFrom, sources: [...new Set(files)].sort() };
      await writeFile(join(outDir, CLI_SOURCES_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    },
  };
}

export default defineConfig({
  publicDir: false,
  plugins: [cliSourcesManifest()],
  ssr: { external: true, target: "node" },
  build: {
    ssr: "src/cli/main.ts",
    outDir: CLI_OUT_DIR,
    emptyOutDir: true,
    target: "node20",
    // Readable stack traces; minifying saves no measurable start-up at this size.
    minify: false,
    rolldownOptions: {
      output: { entryFileNames: "cli/[name].js", chunkFileNames: "cli/[name]-[hash].js" },
    },
  },
});
