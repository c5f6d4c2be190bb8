import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./freePort.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** `vite preview` of the built app (dist/) on a free port, with the headers vite.config.ts sets (cross-origin isolation). */
export async function startPreview(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const vite = join(REPO_ROOT, "node_modules", "vite", "bin", "vite.js");
  const child = spawn(process.execPath, [vite, "preview", "--port", String(port), "--strictPort"], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  for (let waited = 0; !output.includes(String(port)); waited += 100) {
    if (waited > 30_000 || child.exitCode !== null) throw new Error(`vite preview did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, stop: () => child.kill("SIGTERM") };
}
