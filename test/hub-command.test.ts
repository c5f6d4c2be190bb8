import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/runCli.ts";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-command-"));
  await mkdir(join(root, "alice", "model"), { recursive: true });
  await writeFile(join(root, "alice", "model", "model.safetensors"), new Uint8Array(1000));
  await writeFile(join(root, "alice", "model", "config.json"), "{}");
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("merge-studio hub", () => {
  it("turns on each real-Hub behaviour by its flag, and prints its request counts when stopped", async () => {
    const args = ["hub", "--root", root, "--port", "0", "--cdn-ttl", "5", "--resolve-cache", "--rate-limit", "3/60", "--token-quota", "4", "--tree-page-size", "1", "--hide-repos", "--tokens", "hf_a,hf_b"];
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    try {
      await expect.poll(() => stdout, { timeout: 20_000 }).toMatch(/^http:\/\/127\.0\.0\.1:\d+\n/);
      const url = stdout.trim().split("\n")[0]!;
      const lfs = await fetch(`${url}/alice/model/resolve/main/model.safetensors`, { redirect: "manual" });
      expect(lfs.status).toBe(302);
      expect(new URL(lfs.headers.get("Location")!).searchParams.get("X-Amz-Expires")).toBe("5");
      expect(lfs.headers.get("RateLimit-Policy")).toBe('"fixed window";"resolvers";q=3;w=60');
      const small = await fetch(`${url}/alice/model/resolve/main/config.json`, { redirect: "manual", headers: { Authorization: "Bearer hf_b" } });
      expect([small.status, small.headers.get("RateLimit-Policy")]).toEqual([307, '"fixed window";"resolvers";q=4;w=60']);
      expect((await fetch(`${url}/api/models/alice/missing`)).status).toBe(401);
      expect((await fetch(`${url}/api/models/alice/model/tree/main`)).headers.get("Link")).toMatch(/cursor=1>; rel="next"$/);
    } finally {
      child.kill("SIGTERM");
      await once(child, "close");
    }
    expect(stdout).toMatch(/^requests: resolver 2 \(rate-limited 0\), cdn 0 \(with Authorization 0\), api 2$/m);
  });

  it("refuses malformed flags with a clear message", async () => {
    const rate = await runCli(["hub", "--root", root, "--rate-limit", "3000"]);
    expect(rate.code).not.toBe(0);
    expect(rate.stderr).toContain('--rate-limit must be QUOTA/WINDOW_SECONDS, e.g. 3000/300, got "3000"');
    const ttl = await runCli(["hub", "--root", root, "--cdn-ttl", "0"]);
    expect(ttl.stderr).toContain('--cdn-ttl must be a positive integer, got "0"');
    const quota = await runCli(["hub", "--root", root, "--token-quota", "10"]);
    expect(quota.stderr).toContain("--token-quota needs --rate-limit or --real-hub");
  });
});
