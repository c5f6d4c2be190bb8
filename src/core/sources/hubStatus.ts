/** What a Hub source reports while a merge waits on the Hub rather than on the network. */
export type HubStatus =
  | {
      kind: "rate-limited";
      hubUrl: string;
      /** When requests resume (ms since the epoch, this machine's clock). */
      resumeAt: number;
      /** Whether requests carry an access token (without one the Hub's quota is lower). */
      authenticated: boolean;
    }
  | { kind: "resumed"; hubUrl: string };

/** "rate-limited by the Hub, resuming in 143 s", with a hint when no token is set; "" once resumed. */
export function describeHubStatus(status: HubStatus, now = Date.now()): string {
  if (status.kind === "resumed") return "";
  const seconds = Math.max(0, Math.ceil((status.resumeAt - now) / 1000));
  return `rate-limited by the Hub, resuming in ${seconds} s${status.authenticated ? "" : " (a Hugging Face token raises the quota)"}`;
}
