import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { startHubServer, type HubServerOptions, type RunningHubServer } from "../../src/hub-server/startHubServer.ts";

/** A folder of Hub repos for the local Hub server: writes files into it, runs a server over it. */
export function hubTestFolder(root: () => string) {
  return {
    async put(path: string, data: Uint8Array | string): Promise<void> {
      await mkdir(dirname(join(root(), path)), { recursive: true });
      await writeFile(join(root(), path), data);
    },
    async withServer(options: Omit<HubServerOptions, "root">, run: (server: RunningHubServer) => Promise<void>): Promise<void> {
      const server = await startHubServer({ root: root(), ...options });
      try {
        await run(server);
      } finally {
        await server.close();
      }
    },
  };
}
