import type { Browser, Page } from "@playwright/test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";

/** A page that runs one test bundle, apart from the app; close() also removes the bundle. */
export interface BundledPage {
  page: Page;
  close(): Promise<void>;
}

/**
 * Bundles `entry` (a page module of e2e/) with Vite into a temporary folder, opens a page of
 * `browser` at PREFIX/index.html on the configured origin, and serves the bundle there by route
 * (nothing is asked of the origin's server), then waits until the bundle has set `globalName` on
 * window.
 */
export async function openBundledPage(browser: Browser, entry: string, prefix: string, globalName: string, baseUrl = ""): Promise<BundledPage> {
  const bundleDir = await mkdtemp(join(tmpdir(), "bundled-page-"));
  try {
    await build({
      configFile: false,
      logLevel: "error",
      build: { outDir: bundleDir, emptyOutDir: true, minify: false, lib: { entry, formats: ["es"], fileName: () => "page.js" } },
    });
    const page = await browser.newPage();
    await page.route(`**${prefix}**`, async (route) => {
      const name = new URL(route.request().url()).pathname.slice(prefix.length);
      if (name === "index.html") await route.fulfill({ contentType: "text/html", body: `<!doctype html><script type="module" src="page.js"></script>` });
      else if (name === "page.js") await route.fulfill({ contentType: "text/javascript", body: await readFile(join(bundleDir, "page.js")) });
      else await route.fulfill({ status: 404, body: "" });
    });
    await page.goto(`${baseUrl}${prefix}index.html`);
    await page.waitForFunction((name) => name in window, globalName);
    return {
      page,
      close: async () => {
        await page.close();
        await rm(bundleDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(bundleDir, { recursive: true, force: true });
    throw error;
  }
}
