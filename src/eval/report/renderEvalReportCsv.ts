import type { EvalReport } from "./EvalReport.ts";

export const EVAL_REPORT_CSV_COLUMNS = ["label", "kind", "alpha", "control", "metric", "correct", "total", "accuracy", "low", "high", "fixed", "broken", "p", "holm p"] as const;

/** A field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, a quote, CR or LF. */
function csvField(value: string | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The report as CSV (RFC 4180: CRLF line ends, a header line), one row per model and metric in the
 * report's order. Numbers are written in full (JavaScript's shortest round-trip form); a missing
 * value (the target's alpha, a model without a control) is an empty field. fixed, broken, p and
 * holm p compare with the target on the primary metric: they are filled on each model's first
 * metric row only, and empty for the target.
 */
export function renderEvalReportCsv(report: EvalReport): string {
  const rows: (string | number | null)[][] = [[...EVAL_REPORT_CSV_COLUMNS]];
  for (const model of report.models) {
    model.scores.forEach((score, position) => {
      const comparison = position === 0 ? model.comparison : null;
      rows.push([
        model.label,
        model.kind,
        model.alpha,
        model.control,
        score.metric,
        score.correct,
        score.total,
        score.accuracy,
        score.low,
        score.high,
        comparison?.fixed ?? null,
        comparison?.broken ?? null,
        comparison?.pValue ?? null,
        comparison?.holmPValue ?? null,
      ]);
    });
  }
  return rows.map((row) => `${row.map(csvField).join(",")}\r\n`).join("");
}
