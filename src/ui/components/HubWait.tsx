import { useEffect, useState } from "react";
import { describeHubStatus, type HubStatus } from "../../core/sources/hubStatus.ts";

/** "rate-limited by the Hub, resuming in 143 s", counting down while requests wait on the Hub's quota. */
export function HubWait({ status, testId }: { status: HubStatus; testId: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return (
    <p role="status" data-testid={testId} className="rounded-lg border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
      {describeHubStatus(status, now)}
    </p>
  );
}
