/** Seconds between progress redraws on a terminal, and between progress lines in a log. */
const REDRAW_MS = 200;
const LOG_LINE_MS = 5000;

/**
 * A byte-progress line on stderr for a long command (merge, inspect): on a terminal one line
 * rewritten in place at most every REDRAW_MS, elsewhere a line at most every LOG_LINE_MS.
 * `finish()` ends the terminal's line with the last progress (a log already has its lines).
 */
export function createProgressPrinter<Progress>(describe: (progress: Progress) => string): ((progress: Progress) => void) & { finish(): void } {
  const tty = process.stderr.isTTY;
  let lastPrint = 0;
  let last: Progress | undefined;
  const print = (progress: Progress) => {
    last = progress;
    const now = performance.now();
    if (now - lastPrint < (tty ? REDRAW_MS : LOG_LINE_MS)) return;
    lastPrint = now;
    process.stderr.write(tty ? `\r\x1b[K${describe(progress)}` : `${describe(progress)}\n`);
  };
  return Object.assign(print, {
    finish() {
      if (tty && last !== undefined) process.stderr.write(`\r\x1b[K${describe(last)}\n`);
    },
  });
}
