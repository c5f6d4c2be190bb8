/**
 * Ports of the servers the e2e tests start (playwright.config.ts). E2E_STUDIO_PORT and E2E_HUB_PORT
 * move them, so that two checkouts can run their e2e tests side by side without sharing a server.
 */
export const STUDIO_PORT = Number(process.env.E2E_STUDIO_PORT ?? 5180);
export const HUB_PORT = Number(process.env.E2E_HUB_PORT ?? 5181);
export const DEMO_HUB_URL = `http://127.0.0.1:${HUB_PORT}`;
