import type { HubClient } from "./hubClient.ts";
import type { HubRequestSubject } from "./HubSourceError.ts";
import { requestWithRetries } from "./requestWithRetries.ts";

/**
 * The fetch handed to @huggingface/hub: every request goes through `requestWithRetries`, so the
 * library's metadata calls get the same retries and one-line errors as the weight reads.
 */
export function hubFetch(client: HubClient, subject: HubRequestSubject): typeof fetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = typeof init?.body === "string" ? init.body : undefined;
    const response = await requestWithRetries(client, subject, url, { method: init?.method, headers, body });
    const nullBody = init?.method === "HEAD" || response.status === 204 || response.status === 304;
    return new Response(nullBody ? null : (response.body as Uint8Array<ArrayBuffer>), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
