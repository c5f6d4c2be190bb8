import { writeFileSync } from "node:fs";

/**
 * Preloaded into a benchmarked child (`node --import ./bench/reportResourceUsage.js ...`): on exit,
 * writes the process's peak resident set size and its CPU time (user + system, every thread) as
 * JSON, {"peakRssBytes": N, "cpuSeconds": S}, to the file named by RESOURCE_USAGE_FILE. Plain
 * JavaScript, so that it preloads into the built CLI, which runs without tsx.
 */
const file = process.env.RESOURCE_USAGE_FILE;
if (file) {
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ peakRssBytes: usage.maxRSS * 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 }));
  });
}
