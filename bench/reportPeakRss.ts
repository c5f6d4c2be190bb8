import { writeFileSync } from "node:fs";

/**
 * Preloaded into a benchmarked child (`node --import tsx --import ./bench/reportPeakRss.ts ...`):
 * on exit, writes the process's peak resident set size in bytes to the file named by PEAK_RSS_FILE.
 */
const file = process.env.PEAK_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
