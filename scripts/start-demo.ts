import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createServer } from "vite";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { demoHubIsCurrent, writeDemoHub } from "../src/testmodels/writeDemoHub.ts";

const HUB_PORT = 5181;
const STUDIO_PORT = 5173;

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const demoHubRoot = fileURLToPath(new URL("../demo-hub", import.meta.url));
const toyModels = fileURLToPath(new URL("../models/toy", import.meta.url));

// A demo Hub written before the toy repos existed, or from other toy weights, is written again; the old one is replaced only once the new one is complete.
const exists = existsSync(demoHubRoot);
if (!exists || !(await demoHubIsCurrent(demoHubRoot, toyModels))) {
  const partial = `${demoHubRoot}.partial`;
  console.log(`${exists ? "Rewriting the outdated" : "Writing the"} demo models into ${demoHubRoot} …`);
  await rm(partial, { recursive: true, force: true });
  await writeDemoHub(partial, toyModels);
  await rm(demoHubRoot, { recursive: true, force: true });
  await rename(partial, demoHubRoot);
}

const hub = await startHubServer({ root: demoHubRoot, port: HUB_PORT, host: "127.0.0.1" });
process.env.VITE_HUB_URL = hub.url;
const studio = await createServer({ root: projectRoot, server: { port: STUDIO_PORT, strictPort: true } });
await studio.listen();

console.log(`Demo hub:      ${hub.url} (serving ${demoHubRoot})`);
console.log(`Merge Studio:  open ${studio.resolvedUrls?.local[0] ?? `http://127.0.0.1:${STUDIO_PORT}/`}`);
console.log("Press Ctrl-C to stop both.");

async function stop() {
  await Promise.all([studio.close(), hub.close()]);
  process.exit(0);
}

process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
