import type { ModelSummary } from "../../core/plan/summarizeModel.ts";
import { formatBytes, formatCount } from "../format.ts";

const rowCount = new Intl.NumberFormat("en");

interface Row {
  term: string;
  value: string;
  title?: string | undefined;
  mono?: boolean;
  /** Whether the value differs from the target's, where that matters for the merge. */
  differs?: boolean;
}

/** What the headers say about a picked model; with a reference (the target), differences stand out. */
export function ModelSummaryList({ summary, reference }: { summary: ModelSummary; reference?: ModelSummary | undefined }) {
  const rows: Row[] = [
    { term: "Architecture", value: summary.architecture, mono: true, differs: reference && reference.architecture !== summary.architecture },
    { term: "Parameters", value: formatCount(summary.parameterCount), title: rowCount.format(summary.parameterCount) },
    { term: "Dtype", value: summary.dtypes.join(", ") || "—" },
    { term: "Size", value: formatBytes(summary.weightBytes) },
    { term: "Shards", value: summary.shardCount === 1 ? "1 file" : `${summary.shardCount} files` },
    {
      term: "Vocabulary",
      value: summary.vocabRows === undefined ? "—" : `${rowCount.format(summary.vocabRows)} rows`,
      differs: reference && reference.vocabRows !== summary.vocabRows,
    },
    { term: "Commit", value: summary.revision ? summary.revision.slice(0, 10) : "local folder", title: summary.revision, mono: true },
  ];
  return (
    <dl data-testid="model-summary" className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm">
      {rows.map((row) => (
        <div key={row.term} className="contents">
          <dt className="text-slate-500">{row.term}</dt>
          <dd
            className={`truncate ${row.mono ? "font-mono text-[13px]" : "tabular-nums"} ${row.differs ? "font-medium text-amber-700" : "text-slate-900"}`}
            title={row.differs ? "Differs from the target" : row.title}
          >
            {row.value}
            {row.differs && <span className="sr-only"> (differs from the target)</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}
