import { defineConfig, devices } from "@playwright/test";
import { DEMO_HUB_URL, STUDIO_PORT } from "./e2e/ports.ts";

const ci = Boolean(process.env.CI);

export default defineConfig({
  testDir: "e2e",
  forbidOnly: ci,
  retries: 0,
  workers: 1,
  reporter: ci ? "list" : [["list"], ["html", { open: "never" }]],
  use: {
    baseURL: `http://127.0.0.1:${STUDIO_PORT}`,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          args: [
            "--headless=new",
            "--no-sandbox",
            "--enable-unsafe-webgpu",
            "--enable-features=Vulkan",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      },
    },
  ],
  webServer: [
    {
      name: "demo hub",
      command: "tsx e2e/serveDemoHub.ts",
      url: `${DEMO_HUB_URL}/api/models`,
      reuseExistingServer: !ci,
      gracefulShutdown: { signal: "SIGTERM", timeout: 5_000 },
      stdout: "pipe",
    },
    {
      name: "studio",
      command: `vite preview --port ${STUDIO_PORT} --strictPort`,
      url: `http://127.0.0.1:${STUDIO_PORT}`,
      reuseExistingServer: !ci,
    },
  ],
});
