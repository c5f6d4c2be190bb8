import { expect, test, type Page } from "@playwright/test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import { join } from "node:path";
import { build } from "vite";
import { listenTracked, STALL_AFTER_BYTES, startTimeoutServers, type TimeoutServers } from "../test/helpers/timeoutServers.ts";
import type { FetchTimeoutsCase, FetchTimeoutsResult } from "./fetch-timeouts-page.ts";

/**
 * The core's fetchRequest (the studio's Hub reads) in Chromium against servers that misbehave in
 * time: the same timeouts and messages as test/http-timeouts.test.ts checks under Node's fetch, and
 * the BYOB read of a body that comes in many pieces. The page bundle (e2e/fetch-timeouts-page.ts)
 * is built by this spec and served by a server of its own.
 */
const timeouts = { connectMs: 400, idleMs: 800 };
/** fetch cannot tell connecting from waiting: its wait for an answer is both timeouts together. */
const ANSWER_S = (timeouts.connectMs + timeouts.idleMs) / 1000;

declare global {
  interface Window {
    __fetchTimeouts: { runFetchTimeoutsCase(request: FetchTimeoutsCase): Promise<FetchTimeoutsResult> };
  }
}

let bundleDir: string;
let servers: TimeoutServers;
let page: Page;
let pageServer: { url: string; close(): Promise<void> };

test.beforeAll(async ({ browser }) => {
  bundleDir = await mkdtemp(join(tmpdir(), "fetch-timeouts-page-"));
  await build({
    configFile: false,
    logLevel: "error",
    build: { outDir: bundleDir, emptyOutDir: true, minify: false, lib: { entry: "e2e/fetch-timeouts-page.ts", formats: ["es"], fileName: () => "page.js" } },
  });
  servers = await startTimeoutServers();
  // A real server on 127.0.0.1, not a routed page: Chromium lets only a page served from the loopback
  // address space call loopback servers, and a routed answer has no address.
  const script = await readFile(join(bundleDir, "page.js"));
  pageServer = await listenTracked(
    createServer((req, res) => {
      if (req.url === "/page.js") res.writeHead(200, { "Content-Type": "text/javascript" }).end(script);
      else res.writeHead(200, { "Content-Type": "text/html" }).end(`<!doctype html><script type="module" src="page.js"></script>`);
    }),
  );
  page = await browser.newPage();
  await page.goto(`${pageServer.url}/index.html`);
  await page.waitForFunction(() => "__fetchTimeouts" in window);
});

test.afterAll(async () => {
  await page?.close();
  await pageServer?.close();
  await servers?.close();
  await rm(bundleDir, { recursive: true, force: true });
});

const run = (request: FetchTimeoutsCase) => page.evaluate((request) => window.__fetchTimeouts.runFetchTimeoutsCase(request), request);
const hostOf = (url: string) => new URL(url).host;

test("a server that accepts and never answers times out, naming the host", async () => {
  const result = await run({ url: `${servers.silent}/x`, timeouts });
  expect(result.error).toEqual({ name: "HttpTimeoutError", message: `timed out waiting for ${hostOf(servers.silent)} to answer (nothing within ${ANSWER_S} s)` });
  expect(result.seconds).toBeGreaterThanOrEqual(ANSWER_S - 0.05);
  expect(result.seconds).toBeLessThan(ANSWER_S + 2);
});

test("a body that stalls after its headers times out, read whole or into a buffer", async () => {
  for (const intoBytes of [undefined, servers.body.length]) {
    const result = await run({ url: `${servers.stalling}/x`, timeouts, ...(intoBytes ? { intoBytes } : {}) });
    expect(result.error, intoBytes ? "into a buffer" : "whole").toEqual({
      name: "HttpTimeoutError",
      message: `timed out reading from ${hostOf(servers.stalling)}: no bytes for 0.8 s after ${STALL_AFTER_BYTES} of ${servers.body.length} bytes`,
    });
    expect(result.seconds).toBeLessThan(3);
  }
});

test("a slow but steady body does not time out, and arrives whole in a buffer piece by piece", async () => {
  for (const intoBytes of [undefined, servers.body.length]) {
    const result = await run({ url: `${servers.steady}/x`, timeouts, ...(intoBytes ? { intoBytes } : {}) });
    expect(result.error).toBeUndefined();
    expect(Buffer.from(result.body!).equals(servers.body), intoBytes ? "into a buffer" : "whole").toBe(true);
    expect(result.seconds).toBeGreaterThan(timeouts.idleMs / 1000);
  }
});

test("a connection the server never completes times out", async () => {
  const result = await run({ url: `${servers.unaccepting}/x`, timeouts });
  expect(result.error).toEqual({ name: "HttpTimeoutError", message: `timed out waiting for ${hostOf(servers.unaccepting)} to answer (nothing within ${ANSWER_S} s)` });
});

test("an abort ends a request at once, whatever the timeouts", async () => {
  for (const url of [servers.silent, servers.stalling, servers.unaccepting]) {
    const result = await run({ url: `${url}/x`, timeouts: { connectMs: 60_000, idleMs: 60_000 }, abortAfterMs: 100 });
    expect(result.error, url).toEqual({ name: "Error", message: "cancelled" });
    expect(result.seconds).toBeLessThan(1);
  }
});
