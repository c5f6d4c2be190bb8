import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { writeDemoHub } from "../src/testmodels/writeDemoHub.ts";
import { HUB_PORT as port } from "./ports.ts";
import { TOY_MODELS_FOLDER } from "./toyModelsFolder.ts";


const root = await mkdtemp(join(tmpdir(), "merge-studio-demo-hub-"));
await writeDemoHub(root, TOY_MODELS_FOLDER);
const hub = await startHubServer({ root, port, host: "127.0.0.1" });
console.log(`Demo hub serving ${root} at ${hub.url}`);

async function stop() {
  await hub.close();
  await rm(root, { recursive: true, force: true });
  process.exit(0);
}

process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
