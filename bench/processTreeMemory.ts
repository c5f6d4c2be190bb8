import { readdir, readFile } from "node:fs/promises";

const DEFAULT_SAMPLE_MS = 200;

/** The pid of this process's child named `command` (as /proc/<pid>/comm has it). */
export async function childPid(command: string): Promise<number> {
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, "utf8").catch(() => "");
    if (/^Name:\s+(.+)$/m.exec(status)?.[1] === command && /^PPid:\s+(\d+)/m.exec(status)?.[1] === String(process.pid)) return Number(name);
  }
  throw new Error(`no child process named ${command}`);
}

/**
 * Samples the summed RSS of a process and all its descendants from /proc every `intervalMs` (one
 * sample at a time), and
 * their summed PSS: RSS counts the pages Chromium's processes share (its binary, shared memory)
 * once per process, PSS splits them, so the PSS sum is the memory the browser really holds. Each
 * sample reads /proc/<pid>/status of every process and smaps_rollup of the tree's (kernel time
 * that grows with their mapped memory): a longer interval takes less CPU from what is measured.
 */
export function sampleTreeRss(rootPid: number, intervalMs = DEFAULT_SAMPLE_MS): { reset(): void; peak(): { rss: number; pss: number }; stop(): void } {
  let peak = { rss: 0, pss: 0 };
  const sample = async () => {
    const parents = new Map<number, number>();
    const rssOf = new Map<number, number>();
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const status = await readFile(`/proc/${name}/status`, "utf8").catch(() => "");
      const ppid = /^PPid:\s+(\d+)/m.exec(status);
      const rssKb = /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (ppid) parents.set(Number(name), Number(ppid[1]));
      if (rssKb) rssOf.set(Number(name), Number(rssKb[1]) * 1024);
    }
    const inTree = (pid: number): boolean => pid === rootPid || (pid > 1 && parents.has(pid) && inTree(parents.get(pid)!));
    let rss = 0;
    let pss = 0;
    for (const [pid, bytes] of rssOf) {
      if (!inTree(pid)) continue;
      rss += bytes;
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    }
    peak = { rss: Math.max(peak.rss, rss), pss: Math.max(peak.pss, pss) };
  };
  // The next sample starts `intervalMs` after the last one ended: on a loaded machine a sample can
  // take longer than the interval, and overlapping samples would pile up and take the CPU the
  // benchmark measures.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const next = () => (timer = setTimeout(() => void sample().finally(() => timer !== undefined && next()), intervalMs));
  next();
  return {
    reset: () => (peak = { rss: 0, pss: 0 }),
    peak: () => peak,
    stop: () => {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
