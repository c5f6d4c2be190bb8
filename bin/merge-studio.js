#!/usr/bin/env node
// Runs the CLI's prebuilt JavaScript in dist-cli/ (vite.cli.config.ts; `npm ci` builds it through the
// prepare script, `npm run build:cli` rebuilds it), so a run does not transpile TypeScript first.
// A bundle that is missing, or older than a source it was built from (dist-cli/sources.json lists
// them), stops the command with one line that names the fix: stale code never runs silently.
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const outDir = new URL("../dist-cli/", import.meta.url);
const problem = bundleProblem();
if (problem) {
  process.stderr.write(`merge-studio: ${problem}: run "npm run build:cli"\n`);
  process.exit(1);
}
await import(new URL("cli/main.js", outDir).href);

/** Why the bundle in outDir cannot run as the current sources, or undefined when it can. */
function bundleProblem() {
  const manifestFile = fileURLToPath(new URL("sources.json", outDir));
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  } catch (error) {
    return error.code === "ENOENT" ? `the CLI is not built (${manifestFile} is missing)` : `${manifestFile} is unreadable (${error.message})`;
  }
  if (!Array.isArray(manifest?.sources) || typeof manifest.builtFrom !== "number") return `${manifestFile} is not a CLI build's list of sources`;
  for (const source of manifest.sources) {
    const file = fileURLToPath(new URL(source, outDir));
    const changed = statSync(file, { throwIfNoEntry: false })?.mtimeMs;
    if (changed === undefined) return `the CLI bundle is out of date (${file}, one of its sources, is gone)`;
    if (changed > manifest.builtFrom) return `the CLI bundle is out of date (${file} changed after it was built)`;
  }
  return undefined;
}
