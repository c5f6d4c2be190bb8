import type { ReactNode } from "react";

/** A failure shown where it happened, in plain words. */
export function ErrorMessage({ children }: { children: ReactNode }) {
  return (
    <p data-testid="error" role="alert" className="rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm wrap-anywhere text-red-800">
      {children}
    </p>
  );
}
