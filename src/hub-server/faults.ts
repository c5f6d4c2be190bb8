/** Failures injected on purpose, so that tests can prove clients survive a flaky Hub. */
export interface HubFaults {
  /** Every k-th request to a file route fails: a 503 and a dropped connection, in turn. */
  failEvery?: number;
  /** Every k-th file GET that sends a body stops after half of it, with the full Content-Length announced. */
  truncateEvery?: number;
  /** Wait this long before answering any request. */
  delayMs?: number;
}

export type FileFault = "503" | "drop" | undefined;

export class FaultCounter {
  private readonly faults: HubFaults;
  private fileRequests = 0;
  private bodies = 0;
  private failures = 0;

  constructor(faults: HubFaults = {}) {
    for (const key of ["failEvery", "truncateEvery", "delayMs"] as const) {
      const value = faults[key];
      if (value !== undefined && !(Number.isInteger(value) && value >= (key === "delayMs" ? 0 : 1))) {
        throw new Error(`faults.${key} must be a ${key === "delayMs" ? "non-negative" : "positive"} integer, got ${value}`);
      }
    }
    this.faults = faults;
  }

  get delayMs(): number {
    return this.faults.delayMs ?? 0;
  }

  /** Called once per request to a file route (resolve or raw). */
  nextFileRequest(): FileFault {
    this.fileRequests++;
    const every = this.faults.failEvery;
    if (!every || this.fileRequests % every !== 0) return undefined;
    this.failures++;
    return this.failures % 2 === 1 ? "503" : "drop";
  }

  /** Called once per file GET about to stream a body; true: cut it in half. */
  nextBody(): boolean {
    this.bodies++;
    const every = this.faults.truncateEvery;
    return every !== undefined && this.bodies % every === 0;
  }
}
