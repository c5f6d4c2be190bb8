import type { Page } from "@playwright/test";
import { rmSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { build } from "vite";
import { listenTracked } from "../test/helpers/timeoutServers.ts";

/**
 * Builds and serves e2e/merge-api-page.ts, the test page that exposes the merge API (with its workers)
 * as `window.__mergeStudio`, apart from the app: the studio's bundle (dist/) holds no test hook.
 */

const ENTRY = "e2e/merge-api-page.ts";
const INDEX_HTML = `<!doctype html><meta charset="utf-8"><title>Merge API test page</title><script type="module" src="page.js"></script>`;
/** Where the page lives on the studio's own origin when routed there (see openMergeApiPageOnStudio). */
const STUDIO_PREFIX = "/__merge-api/";
/** As the studio is served (vite.config.ts): the page runs cross-origin isolated like the app. */
const CROSS_ORIGIN_ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
const CONTENT_TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

let bundle: Promise<string> | undefined;

/** The folder of the built page; built once per process (the specs of a Playwright worker share it), removed when it exits. */
export function buildMergeApiPage(): Promise<string> {
  bundle ??= (async () => {
    const folder = await mkdtemp(join(tmpdir(), "merge-api-page-"));
    process.once("exit", () => rmSync(folder, { recursive: true, force: true }));
    await build({
      configFile: false,
      logLevel: "error",
      publicDir: false,
      base: "./",
      worker: { format: "es" },
      build: { outDir: folder, emptyOutDir: true, minify: false, rolldownOptions: { input: { page: ENTRY }, output: { entryFileNames: "[name].js" } } },
    });
    return folder;
  })();
  return bundle;
}

/** The body of `path` (of the page's URL space: "index.html", "page.js", "assets/…"), or undefined if the bundle has no such file. */
async function pageFile(folder: string, path: string): Promise<{ body: Buffer | string; contentType: string } | undefined> {
  if (path === "" || path === "index.html") return { body: INDEX_HTML, contentType: "text/html" };
  const relative = normalize(path);
  if (relative.startsWith("..")) return undefined;
  const body = await readFile(join(folder, relative)).catch(() => undefined);
  return body && { body, contentType: CONTENT_TYPES[extname(relative)] ?? "application/octet-stream" };
}

/**
 * Serves the page from a server of its own on 127.0.0.1 (a real loopback address: Chromium lets only
 * such a page call the loopback demo Hub). Its origin is not the studio's, so its OPFS is its own.
 */
export async function serveMergeApiPage(): Promise<{ url: string; close(): Promise<void> }> {
  const folder = await buildMergeApiPage();
  return listenTracked(
    createServer((request, response) => {
      void pageFile(folder, new URL(request.url ?? "/", "http://page").pathname.slice(1)).then((file) => {
        if (!file) response.writeHead(404, CROSS_ORIGIN_ISOLATION).end();
        else response.writeHead(200, { "Content-Type": file.contentType, ...CROSS_ORIGIN_ISOLATION }).end(file.body);
      });
    }),
  );
}

/** Opens the page served at `url` (serveMergeApiPage) in `page`, ready to use. */
export async function openMergeApiPage(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/index.html`);
  await page.waitForFunction(() => "__mergeStudio" in window);
}

/**
 * Opens the page on the studio's own origin (the baseURL), routed under /__merge-api/, so that it sees
 * the studio's OPFS and Web Locks: for what needs no network, as the sweep of merges left by closed tabs.
 */
export async function openMergeApiPageOnStudio(page: Page): Promise<void> {
  const folder = await buildMergeApiPage();
  await page.route(`**${STUDIO_PREFIX}**`, async (route) => {
    const file = await pageFile(folder, new URL(route.request().url()).pathname.slice(STUDIO_PREFIX.length));
    await route.fulfill(file ? { contentType: file.contentType, headers: CROSS_ORIGIN_ISOLATION, body: file.body } : { status: 404, body: "" });
  });
  await page.goto(`${STUDIO_PREFIX}index.html`);
  await page.waitForFunction(() => "__mergeStudio" in window);
}
