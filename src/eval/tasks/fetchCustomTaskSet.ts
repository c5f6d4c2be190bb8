import { CUSTOM_TASK_SET_MAX_BYTES } from "./parseCustomTaskSet.ts";

/**
 * The bytes of a custom set at `url`, read as they arrive and refused as soon as they pass
 * CUSTOM_TASK_SET_MAX_BYTES (or when Content-Length says they will), so a wrong URL cannot fill
 * memory. Errors name the URL and the HTTP status.
 */
export async function fetchCustomTaskSet(url: string, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    throw new Error(`${url}: the custom set could not be fetched (${(error as Error).message})`, { cause: error });
  }
  if (!response.ok) throw new Error(`${url}: the custom set could not be fetched: HTTP ${response.status} ${response.statusText}`.trimEnd());
  const tooLarge = () => new Error(`${url}: over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
  if (Number(response.headers.get("content-length") ?? 0) > CUSTOM_TASK_SET_MAX_BYTES) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body!.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    length += read.value.length;
    if (length > CUSTOM_TASK_SET_MAX_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(read.value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
