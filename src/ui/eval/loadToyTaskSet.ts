import { toyTaskSetPath, type ToyTaskSetName } from "../../eval/tasks/toyTaskSets.ts";

const loaded = new Map<ToyTaskSetName, Promise<Uint8Array<ArrayBuffer>>>();

/**
 * A toy task's held-out set served with the app (public/data/toy/NAME.jsonl), as bytes (the worker
 * parses them and the report records their SHA-256), fetched once per page. A failed fetch is
 * forgotten, so the next run tries again.
 */
export function loadToyTaskSet(name: ToyTaskSetName): Promise<Uint8Array<ArrayBuffer>> {
  let bytes = loaded.get(name);
  if (!bytes) {
    const path = toyTaskSetPath(name);
    bytes = fetch(`${import.meta.env.BASE_URL}${path}`).then(async (response) => {
      if (!response.ok) throw new Error(`the ${name} set could not be loaded (HTTP ${response.status} for ${path})`);
      return new Uint8Array(await response.arrayBuffer());
    });
    bytes.catch(() => loaded.delete(name));
    loaded.set(name, bytes);
  }
  return bytes;
}
