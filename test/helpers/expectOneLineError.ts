import { expect } from "vitest";

/** `run` throws one line (no line break) that starts with `message`. */
export function expectOneLineError(run: () => unknown, message: string): void {
  let thrown: Error | undefined;
  try {
    run();
  } catch (error) {
    thrown = error as Error;
  }
  expect(thrown?.message.startsWith(message), thrown?.message).toBe(true);
  expect(thrown!.message).not.toContain("\n");
}
