import { fileURLToPath } from "node:url";
import { createServer } from "vite";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { ensureCurrentDemoHub } from "../src/testmodels/ensureCurrentDemoHub.ts";

const HUB_PORT = 5181;
const STUDIO_PORT = 5173;

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const demoHubRoot = fileURLToPath(new URL("../demo-hub", import.meta.url));
const toyModels = fileURLToPath(new URL("../models/toy", import.meta.url));

await ensureCurrentDemoHub(demoHubRoot, toyModels, (replacing) => console.log(`${replacing ? "Rewriting the outdated" : "Writing the"} demo models into ${demoHubRoot} …`));

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
