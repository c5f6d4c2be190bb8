// A fallback for static hosts that cannot send Cross-Origin-Opener-Policy and
// Cross-Origin-Embedder-Policy: this service worker adds both to every same-origin response, so the
// page (after one reload, see index.html) is cross-origin isolated and onnxruntime-web gets threads.
// Cross-origin requests (the Hub, its CDN) are left to the browser: they are CORS fetches, which
// COEP require-corp allows.

const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (new URL(request.url).origin !== self.location.origin) return;
  // Chrome throws on refetching this combination (devtools opening a file); let it through untouched.
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(
    fetch(request).then((response) => {
      // Opaque responses (a redirect seen by a navigation) cannot be rebuilt; they pass unchanged.
      if (response.type === "opaque" || response.type === "opaqueredirect") return response;
      const headers = new Headers(response.headers);
      for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    }),
  );
});
