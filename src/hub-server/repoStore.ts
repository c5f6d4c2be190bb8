import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** One visible regular file of a repo folder, as last seen on disk. */
export interface RepoFileStat {
  path: string;
  size: number;
  mtimeMs: number;
}

/** A repo folder at one moment: its files and the commit sha derived from them. */
export interface RepoSnapshot {
  id: string;
  owner: string;
  sha: string;
  files: Map<string, RepoFileStat>;
  lastModified: Date;
  createdAt: Date;
}

/** Optional `ROOT/OWNER/NAME/.hub.json`: listing metadata a folder cannot provide by itself. */
export interface RepoCard {
  downloads: number;
  likes: number;
  tags: string[];
  pipeline_tag?: string;
  /** Seen only by requests with a valid token. */
  private: boolean;
}

export type RevisionLookup =
  | { kind: "found"; snapshot: RepoSnapshot; current: RepoSnapshot }
  | { kind: "no-repo" }
  | { kind: "no-revision" };

/** Owner and repo names as the Hub allows them; also what keeps a name from being "..", "." or hidden. */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const BRANCH_NAMES = new Set(["main", "HEAD"]);
const REMEMBERED_REVISIONS = 32;

function isRepoName(name: string): boolean {
  return REPO_NAME.test(name);
}

export function sha1Hex(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

/** The ETag of a file: cheap to compute for GB files and changes whenever the file's size or mtime does. */
export function fileEtag(repoId: string, file: RepoFileStat): string {
  return `"${sha1Hex(`${repoId}\0${file.path}\0${file.size}\0${file.mtimeMs}`)}"`;
}

/** Serves ROOT/OWNER/NAME folders as repos; every lookup re-reads the disk, so edits show at once. */
export class RepoStore {
  readonly root: string;
  /** Snapshots handed out before, newest last, so that clients pinned to an older sha keep working. */
  private readonly history = new Map<string, Map<string, RepoSnapshot>>();
  /** SHA-256 of file contents, by repo, path, size and mtime: hashed once however often a file is resolved. */
  private readonly sha256s = new Map<string, Promise<string>>();

  constructor(root: string) {
    this.root = root;
  }

  async listRepoIds(): Promise<string[]> {
    const ids: string[] = [];
    for (const owner of await listDirNames(this.root)) {
      for (const name of await listDirNames(join(this.root, owner))) ids.push(`${owner}/${name}`);
    }
    return ids.sort();
  }

  async scan(owner: string, name: string): Promise<RepoSnapshot | undefined> {
    if (!isRepoName(owner) || !isRepoName(name)) return undefined;
    const dir = join(this.root, owner, name);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) return undefined;
    const files = await walk(dir, "");
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const id = `${owner}/${name}`;
    const sha = sha1Hex(`${id}\n${files.map((f) => `${f.path}\0${f.size}\0${f.mtimeMs}\n`).join("")}`);
    const mtimes = files.map((f) => f.mtimeMs);
    const snapshot: RepoSnapshot = {
      id,
      owner,
      sha,
      files: new Map(files.map((f) => [f.path, f])),
      lastModified: new Date(mtimes.length ? Math.max(...mtimes) : info.mtimeMs),
      createdAt: new Date(mtimes.length ? Math.min(...mtimes) : info.mtimeMs),
    };
    this.remember(snapshot);
    return snapshot;
  }

  /** `rev` is "main", "HEAD", the current sha or a sha this server reported earlier. */
  async lookup(owner: string, name: string, rev: string): Promise<RevisionLookup> {
    const current = await this.scan(owner, name);
    if (!current) return { kind: "no-repo" };
    if (BRANCH_NAMES.has(rev) || rev === current.sha) return { kind: "found", snapshot: current, current };
    const earlier = this.history.get(current.id)?.get(rev);
    return earlier ? { kind: "found", snapshot: earlier, current } : { kind: "no-revision" };
  }

  /**
   * The file at `path` of revision `rev` as it is on disk now (what `lookup` then `current.files`
   * give), for the CDN's ranged reads: a revision handed out before is found in memory and only the
   * one file is looked at (no rescan of the repo per request); it must still be a regular file reached
   * through no symlink inside the repo folder, as a scan would find it.
   */
  async currentFile(owner: string, name: string, rev: string, path: string): Promise<{ id: string; file: RepoFileStat } | undefined> {
    const snapshot = isRepoName(owner) && isRepoName(name) ? this.history.get(`${owner}/${name}`)?.get(rev) : undefined;
    if (!snapshot) {
      const found = await this.lookup(owner, name, rev);
      const file = found.kind === "found" && found.snapshot.files.has(path) ? found.current.files.get(path) : undefined;
      return found.kind === "found" && file ? { id: found.current.id, file } : undefined;
    }
    if (!snapshot.files.has(path)) return undefined;
    // lstat each step inside the repo folder: a scan (walk) takes no symlink there either.
    const steps = path.split("/");
    const infos = await Promise.all(steps.map((_, i) => lstat(join(this.root, snapshot.id, ...steps.slice(0, i + 1))).catch(() => undefined)));
    const info = infos.pop();
    if (!infos.every((dir) => dir?.isDirectory()) || !info?.isFile()) return undefined;
    return { id: snapshot.id, file: { path, size: info.size, mtimeMs: info.mtimeMs } };
  }

  /** The id of an existing repo that matches `owner/name` ignoring case, as the Hub matches ids. */
  async canonicalId(owner: string, name: string): Promise<string | undefined> {
    const wanted = `${owner}/${name}`.toLowerCase();
    return (await this.listRepoIds()).find((id) => id.toLowerCase() === wanted);
  }

  /** Hex SHA-256 of a file's bytes as they are now (what the Hub sends, quoted, as `X-Linked-Etag` of an LFS file). */
  sha256(repoId: string, file: RepoFileStat): Promise<string> {
    const key = `${repoId}\0${file.path}\0${file.size}\0${file.mtimeMs}`;
    let hashing = this.sha256s.get(key);
    if (!hashing) {
      hashing = new Promise<string>((resolve, reject) => {
        const hash = createHash("sha256");
        createReadStream(join(this.root, repoId, file.path), { highWaterMark: 2 ** 20 })
          .on("data", (chunk) => hash.update(chunk))
          .on("error", reject)
          .on("end", () => resolve(hash.digest("hex")));
      });
      this.sha256s.set(key, hashing);
      hashing.catch(() => this.sha256s.delete(key));
    }
    return hashing;
  }

  async readCard(snapshot: RepoSnapshot): Promise<RepoCard> {
    const hash = createHash("sha1").update(snapshot.id).digest();
    const card: RepoCard = { downloads: hash.readUInt32BE(0) % 100_000, likes: hash.readUInt16BE(4) % 1_000, tags: [], private: false };
    const file = join(this.root, snapshot.id, ".hub.json");
    const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (text === undefined) return card;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${snapshot.id}/.hub.json: invalid JSON (${(error as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new Error(`${snapshot.id}/.hub.json: expected a JSON object`);
    }
    const given = json as Record<string, unknown>;
    if (typeof given.downloads === "number") card.downloads = given.downloads;
    if (typeof given.likes === "number") card.likes = given.likes;
    if (Array.isArray(given.tags)) card.tags = given.tags.filter((t): t is string => typeof t === "string");
    if (typeof given.pipeline_tag === "string") card.pipeline_tag = given.pipeline_tag;
    if (given.private === true) card.private = true;
    return card;
  }

  private remember(snapshot: RepoSnapshot): void {
    let shas = this.history.get(snapshot.id);
    if (!shas) {
      shas = new Map();
      this.history.set(snapshot.id, shas);
    }
    shas.delete(snapshot.sha);
    shas.set(snapshot.sha, snapshot);
    if (shas.size > REMEMBERED_REVISIONS) shas.delete(shas.keys().next().value as string);
  }
}

async function listDirNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const entry of entries) {
    if (!isRepoName(entry.name)) continue;
    const info = await stat(join(dir, entry.name)).catch(() => undefined);
    if (info?.isDirectory()) names.push(entry.name);
  }
  return names;
}

/** Regular files only: symlinks are skipped so that no repo path can lead outside ROOT. */
async function walk(dir: string, prefix: string): Promise<RepoFileStat[]> {
  const out: RepoFileStat[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const path = prefix + entry.name;
    if (entry.isDirectory()) {
      out.push(...(await walk(join(dir, entry.name), `${path}/`)));
    } else if (entry.isFile()) {
      const info = await stat(join(dir, entry.name)).catch(() => undefined);
      if (info) out.push({ path, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
  return out;
}
