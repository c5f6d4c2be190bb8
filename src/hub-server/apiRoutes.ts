import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, sendJson } from "./respond.ts";
import { fileEtag, sha1Hex, type RepoCard, type RepoSnapshot, type RepoStore } from "./repoStore.ts";

/** Page sizes of the Hub: listings longer than this continue through a `Link: <…>; rel="next"` header. */
export const MODELS_PAGE_SIZE = 1000;
export const DEFAULT_TREE_PAGE_SIZE = 1000;
const MAX_JSON_BODY = 1 << 20;

interface TreeEntry {
  type: "file" | "directory";
  oid: string;
  size: number;
  path: string;
  lastCommit?: { id: string; title: string; date: string };
}

function modelJson(snapshot: RepoSnapshot, card: RepoCard) {
  return {
    _id: sha1Hex(snapshot.id).slice(0, 24),
    id: snapshot.id,
    modelId: snapshot.id,
    author: snapshot.owner,
    sha: snapshot.sha,
    lastModified: snapshot.lastModified.toISOString(),
    createdAt: snapshot.createdAt.toISOString(),
    private: card.private,
    gated: false,
    disabled: false,
    downloads: card.downloads,
    likes: card.likes,
    tags: card.tags,
    ...(card.pipeline_tag ? { pipeline_tag: card.pipeline_tag } : {}),
    siblings: [...snapshot.files.keys()].map((rfilename) => ({ rfilename })),
    spaces: [],
    usedStorage: [...snapshot.files.values()].reduce((sum, f) => sum + f.size, 0),
  };
}

function nextLink(req: IncomingMessage, query: URLSearchParams, cursor: number): Record<string, string> {
  const next = new URLSearchParams(query);
  next.set("cursor", String(cursor));
  const path = (req.url ?? "/").split("?")[0];
  return { Link: `<http://${req.headers.host}${path}?${next}>; rel="next"` };
}

function pageOf<T>(items: T[], query: URLSearchParams, pageSize: number): { page: T[]; next?: number } {
  const start = Number(query.get("cursor") ?? 0);
  if (!Number.isInteger(start) || start < 0) throw new HttpError(400, `invalid cursor "${query.get("cursor")}"`);
  const end = start + pageSize;
  return { page: items.slice(start, end), ...(end < items.length ? { next: end } : {}) };
}

/** `GET /api/models?search=&author=&filter=&pipeline_tag=&sort=&direction=&limit=&cursor=` */
export async function listModels(
  store: RepoStore,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  showPrivate: boolean,
) {
  const search = query.get("search")?.toLowerCase();
  const author = query.get("author")?.toLowerCase();
  const tags = query.getAll("filter");
  const pipelineTag = query.get("pipeline_tag");
  const models: ReturnType<typeof modelJson>[] = [];
  for (const id of await store.listRepoIds()) {
    const [owner = "", name = ""] = id.split("/");
    if (search && !id.toLowerCase().includes(search)) continue;
    if (author && owner.toLowerCase() !== author) continue;
    const snapshot = await store.scan(owner, name);
    if (!snapshot) continue;
    const card = await store.readCard(snapshot);
    if (card.private && !showPrivate) continue;
    if (!tags.every((tag) => card.tags.includes(tag))) continue;
    if (pipelineTag && card.pipeline_tag !== pipelineTag) continue;
    models.push(modelJson(snapshot, card));
  }
  sortModels(models, query.get("sort"), query.get("direction"));
  const limit = Number(query.get("limit") ?? MODELS_PAGE_SIZE);
  if (!Number.isInteger(limit) || limit < 1) throw new HttpError(400, `invalid limit "${query.get("limit")}"`);
  const { page, next } = pageOf(models, query, Math.min(limit, MODELS_PAGE_SIZE));
  sendJson(res, 200, page, next === undefined ? {} : nextLink(req, query, next));
}

function sortModels(models: ReturnType<typeof modelJson>[], sort: string | null, direction: string | null): void {
  const keys: Record<string, (m: ReturnType<typeof modelJson>) => number | string> = {
    downloads: (m) => m.downloads,
    likes: (m) => m.likes,
    lastModified: (m) => m.lastModified,
    createdAt: (m) => m.createdAt,
    id: (m) => m.id,
  };
  const key = sort ? keys[sort] : undefined;
  if (sort && !key) throw new HttpError(400, `unsupported sort "${sort}"; use one of ${Object.keys(keys).join(", ")}`);
  if (!key) return;
  // The Hub sorts in descending order unless told `direction=1`; ties keep the id order.
  const sign = direction === "1" ? 1 : -1;
  models.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -sign : x > y ? sign : 0;
  });
}

/** `GET /api/models/OWNER/NAME[/revision/REV]` */
export async function modelInfo(store: RepoStore, res: ServerResponse, snapshot: RepoSnapshot) {
  sendJson(res, 200, modelJson(snapshot, await store.readCard(snapshot)));
}

function treeEntries(snapshot: RepoSnapshot, expand: boolean): TreeEntry[] {
  const directories = new Map<string, string[]>();
  for (const path of snapshot.files.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const children = directories.get(dir) ?? [];
      children.push(path);
      directories.set(dir, children);
    }
  }
  const entries: TreeEntry[] = [];
  for (const [path, files] of directories) {
    entries.push({ type: "directory", oid: sha1Hex(`${snapshot.id}\0${path}/\0${files.join("\0")}`), size: 0, path });
  }
  for (const file of snapshot.files.values()) {
    entries.push({
      type: "file",
      oid: fileEtag(snapshot.id, file).slice(1, -1),
      size: file.size,
      path: file.path,
      ...(expand
        ? { lastCommit: { id: snapshot.sha, title: "Local folder", date: new Date(file.mtimeMs).toISOString() } }
        : {}),
    });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `GET /api/models/OWNER/NAME/tree/REV[/PATH]?recursive=&expand=&cursor=` */
export function tree(
  req: IncomingMessage,
  res: ServerResponse,
  snapshot: RepoSnapshot,
  path: string,
  query: URLSearchParams,
  pageSize: number,
) {
  const recursive = query.get("recursive") === "true" || query.get("recursive") === "1";
  const all = treeEntries(snapshot, query.get("expand") === "true");
  const prefix = path ? `${path}/` : "";
  if (path && !all.some((e) => e.type === "directory" && e.path === path)) {
    throw new HttpError(404, `${snapshot.id}: no folder "${path}" at revision ${snapshot.sha}`, "EntryNotFound");
  }
  const listed = all.filter(
    (e) => e.path.startsWith(prefix) && (recursive || !e.path.slice(prefix.length).includes("/")),
  );
  const { page, next } = pageOf(listed, query, pageSize);
  sendJson(res, 200, page, next === undefined ? {} : nextLink(req, query, next));
}

/** `POST /api/models/OWNER/NAME/paths-info/REV` with `{"paths": [...], "expand": bool}`; unknown paths are left out. */
export async function pathsInfo(req: IncomingMessage, res: ServerResponse, snapshot: RepoSnapshot) {
  const body = await readJsonBody(req);
  const paths = typeof body.paths === "string" ? [body.paths] : body.paths;
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === "string")) {
    throw new HttpError(400, 'expected a JSON body {"paths": [string, ...]}');
  }
  const byPath = new Map(treeEntries(snapshot, body.expand === true).map((e) => [e.path, e]));
  sendJson(
    res,
    200,
    paths.flatMap((p) => byPath.get(p) ?? []),
  );
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY) throw new HttpError(413, "request body too large");
    chunks.push(chunk);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new HttpError(400, "expected a JSON object");
  return json as Record<string, unknown>;
}
