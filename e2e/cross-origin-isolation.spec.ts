import { expect, test, type Page } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";

test.describe.configure({ timeout: 180_000 });

const TRIO_LINK = `/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`;

const isolated = (page: Page) => page.evaluate(() => window.crossOriginIsolated).catch(() => false);

test("the studio is cross-origin isolated, its eval worker runs on more than one thread, and Hub models still open", async ({ page, browser }) => {
  const response = await page.goto(TRIO_LINK);
  expect(response!.headers()["cross-origin-opener-policy"]).toBe("same-origin");
  expect(response!.headers()["cross-origin-embedder-policy"]).toBe("require-corp");
  expect(await isolated(page)).toBe(true);
  // The three models open from the Hub server, another origin (CORS), under COEP.
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");

  const panel = page.getByTestId("eval-panel");
  await page.getByTestId("eval-n").fill("1");
  await panel.getByLabel("Max new tokens").fill("2");
  await page.getByTestId("eval-run").click();
  const threads = page.getByTestId("eval-threads");
  await expect(threads).toBeVisible({ timeout: 120_000 });
  const count = Number(await threads.getAttribute("data-threads"));
  expect(count).toBeGreaterThan(1);
  await expect(threads).toHaveText(`onnxruntime-web runs on ${count} threads.`);

  // The threads are real: onnxruntime's WebAssembly started count - 1 workers of its own ("em-pthread").
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = (await cdp.send("Target.getTargets")) as { targetInfos: { type: string; title: string }[] };
  await cdp.detach();
  const pthreads = targetInfos.filter((target) => target.type === "worker" && target.title.startsWith("em-pthread"));
  expect(pthreads, JSON.stringify(targetInfos)).toHaveLength(count - 1);
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 120_000 });
});

/** dist/ served as a plain static host would: no COOP / COEP headers. */
async function serveDistWithoutHeaders(): Promise<Server> {
  const root = normalize(join(import.meta.dirname, "..", "dist"));
  const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".jsonl": "application/jsonl" };
  const server = createServer((request, response) => {
    const path = new URL(request.url!, "http://localhost").pathname;
    const file = normalize(join(root, path === "/" ? "index.html" : decodeURIComponent(path)));
    if (!file.startsWith(root)) return void response.writeHead(403).end();
    readFile(file).then(
      (body) => response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test("on a host that sends no COOP / COEP, the service worker isolates the page after one reload: Hub models open, the eval worker gets threads", async ({ page }) => {
  const server = await serveDistWithoutHeaders();
  try {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const response = await page.goto(`${origin}${TRIO_LINK}`);
    expect(response!.headers()["cross-origin-embedder-policy"]).toBeUndefined();
    await expect.poll(() => isolated(page), { timeout: 30_000 }).toBe(true);
    await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok", { timeout: 30_000 });
    expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(`${origin}/cross-origin-isolation-sw.js`);
    // The eval worker's script comes through the service worker too, so it gets its threads.
    await page.getByTestId("eval-n").fill("1");
    await page.getByTestId("eval-panel").getByLabel("Max new tokens").fill("2");
    await page.getByTestId("eval-run").click();
    await expect(page.getByTestId("eval-threads")).toBeVisible({ timeout: 120_000 });
    expect(Number(await page.getByTestId("eval-threads").getAttribute("data-threads"))).toBeGreaterThan(1);
    await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 120_000 });
  } finally {
    // The page keeps its connections alive: close them, or close() waits for them forever.
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
