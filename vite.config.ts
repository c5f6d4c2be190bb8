import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

/**
 * Cross-origin isolation, so that onnxruntime-web can use threads (SharedArrayBuffer). COEP is
 * require-corp rather than credentialless: every cross-origin request the studio makes (the Hub's
 * API, resolve and its CDN) is a CORS fetch, which require-corp allows as credentialless does, and
 * require-corp works in every browser with cross-origin isolation (Safari has no credentialless).
 * A static host serving dist/ must send the same two headers on every response (dist/_headers
 * says so in Netlify's and Cloudflare Pages' format); where it cannot,
 * public/cross-origin-isolation-sw.js adds them.
 */
const CROSS_ORIGIN_ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  plugins: [react(), tailwindcss()],
  worker: { format: "es" },
  server: { host: "127.0.0.1", headers: CROSS_ORIGIN_ISOLATION_HEADERS },
  preview: { host: "127.0.0.1", headers: CROSS_ORIGIN_ISOLATION_HEADERS },
});
