import { describeHubStatus, type HubStatus } from "../core/sources/hubStatus.ts";

/**
 * The `onStatus` of the Hub sources a command opens: prints "rate-limited by the Hub, resuming in 143 s"
 * on `stream` once per wait (parallel reads that wait together print one line).
 */
export function createHubStatusPrinter(stream: NodeJS.WriteStream = process.stderr): (status: HubStatus) => void {
  let waitingUntil = 0;
  return (status) => {
    if (status.kind !== "rate-limited") return;
    if (Date.now() < waitingUntil && status.resumeAt <= waitingUntil + 1000) return;
    waitingUntil = status.resumeAt;
    stream.write(`${stream.isTTY ? "\r\x1b[K" : ""}${describeHubStatus(status)}\n`);
  };
}
