import { useRef, useState, type ReactNode } from "react";
import { Area, CartesianGrid, ComposedChart, Line, ReferenceArea, ReferenceLine, XAxis, YAxis, useChartWidth, usePlotArea, useXAxisScale, useYAxisScale } from "recharts";
import type { EvalControl } from "../../eval/report/EvalReport.ts";
import { downloadBlob } from "../downloadBlob.ts";
import { standaloneSvg, svgToPng } from "../chart/standaloneSvg.ts";
import type { SweepChartPoint, SweepChartTarget } from "../state/sweepChartData.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { secondaryButtonClass } from "./styles.ts";

export interface SweepChartProps {
  /** The merged models evaluated so far, in any order. */
  points: readonly SweepChartPoint[];
  /** The target's accuracy and interval, once it has been evaluated. */
  target: SweepChartTarget | null;
  /** The metric the accuracy counts ("strict-match", "exact-match"). */
  metric: string;
  /** The task's name, for the title ("gsm8k_cot", a preset's id, "custom"). */
  task: string;
}

const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { top: 64, right: 32, bottom: 44, left: 16 };
const COLORS = { sweep: "#4f46e5", band: "#a5b4fc", target: "#0f766e", reversed: "#dc2626", randomSign: "#d97706" } as const;
const CONTROL_LABELS: Record<EvalControl, string> = { reversed: "reversed vector", "random-sign": "random-sign" };
const percent = (value: number) => `${Math.round(100 * value)}%`;

/**
 * Accuracy against alpha: the sweep's points joined by a line over their Wilson 95% band, the
 * target as a horizontal line over its own band, and each control as its own marker. The reversed
 * vector is the recipe at -alpha, so it lies on the curve (a triangle there); the random-sign
 * control is another model, a diamond beside the curve. Each marker
 * carries its figures as data attributes. "Save SVG" writes the chart as a standalone SVG file,
 * "Save PNG" draws that at twice the size.
 */
export function SweepChart({ points, target, metric, task }: SweepChartProps) {
  const frame = useRef<HTMLDivElement>(null);
  const [saveError, setSaveError] = useState<string>();
  const sweep = points.filter((point) => point.control !== "random-sign").sort((a, b) => a.alpha - b.alpha);
  const data = sweep.map((point) => ({ alpha: point.alpha, accuracy: point.correct / point.total, band: [point.low, point.high] }));
  const alphas = [...new Set(points.map((point) => point.alpha))].sort((a, b) => a - b);
  const [first = 0, last = 1] = [alphas[0], alphas[alphas.length - 1]];
  const pad = Math.max(0.25, 0.06 * (last - first));
  const empty = points.length === 0;

  const chartSvg = () => {
    const svg = frame.current?.querySelector<SVGSVGElement>("svg.recharts-surface");
    if (!svg) throw new Error("the chart is not drawn yet");
    return svg;
  };
  const save = (kind: "svg" | "png") => {
    setSaveError(undefined);
    void (async () => {
      const svg = chartSvg();
      const text = standaloneSvg(svg);
      const { width, height } = svg.getBoundingClientRect();
      const blob = kind === "svg" ? new Blob([text], { type: "image/svg+xml" }) : await svgToPng(text, width, height);
      downloadBlob(blob, `alpha-sweep.${kind}`);
    })().catch((error: unknown) => setSaveError(`The chart could not be saved: ${error instanceof Error ? error.message : String(error)}`));
  };

  return (
    <div className="flex flex-col gap-2">
      <div ref={frame} data-testid="sweep-chart" data-points={points.length} className="w-fit max-w-full overflow-x-auto">
        <ComposedChart width={WIDTH} height={HEIGHT} data={data} margin={MARGIN} style={{ fontFamily: "ui-sans-serif, system-ui, sans-serif" }}>
          <ChartTitle task={task} metric={metric} points={points.length} />
          <CartesianGrid stroke="#e2e8f0" strokeDasharray="3 3" />
          <XAxis
            type="number"
            dataKey="alpha"
            domain={[first - pad, last + pad]}
            ticks={alphas}
            allowDataOverflow
            tick={{ fontSize: 12, fill: "#334155" }}
            label={{ value: "alpha (scale of the task vector)", position: "insideBottom", offset: -8, fontSize: 13, fill: "#334155" }}
          />
          <YAxis
            type="number"
            domain={[0, 1]}
            ticks={[0, 0.2, 0.4, 0.6, 0.8, 1]}
            tickFormatter={percent}
            tick={{ fontSize: 12, fill: "#334155" }}
            label={{ value: `accuracy (${metric})`, angle: -90, position: "insideLeft", offset: 14, dy: 60, fontSize: 13, fill: "#334155" }}
          />
          {target && <ReferenceArea y1={target.low} y2={target.high} fill={COLORS.target} fillOpacity={0.08} stroke="none" ifOverflow="hidden" />}
          {target && <ReferenceLine y={target.correct / target.total} stroke={COLORS.target} strokeWidth={1.5} strokeDasharray="6 4" />}
          <Area dataKey="band" type="linear" stroke="none" fill={COLORS.band} fillOpacity={0.35} isAnimationActive={false} />
          <Line dataKey="accuracy" type="linear" stroke={COLORS.sweep} strokeWidth={2} dot={false} activeDot={false} isAnimationActive={false} />
          <Markers points={points} />
          <ChartLegend hasTarget={target !== null} controls={[...new Set(points.flatMap((point) => (point.control ? [point.control] : [])))]} />
        </ComposedChart>
      </div>
      {target && (
        <p data-testid="sweep-chart-target" data-correct={target.correct} data-total={target.total} data-accuracy={target.correct / target.total} className="sr-only">
          Target: {target.correct} / {target.total} right.
        </p>
      )}
      <div className="flex flex-wrap items-center gap-2">
        <button type="button" data-testid="sweep-save-svg" className={secondaryButtonClass} disabled={empty} onClick={() => save("svg")}>
          Save SVG
        </button>
        <button type="button" data-testid="sweep-save-png" className={secondaryButtonClass} disabled={empty} onClick={() => save("png")}>
          Save PNG
        </button>
        {empty && <p className="text-xs text-slate-500">The chart can be saved once a merged model has its results.</p>}
      </div>
      {saveError && <ErrorMessage>{saveError}</ErrorMessage>}
    </div>
  );
}

function ChartTitle({ task, metric, points }: { task: string; metric: string; points: number }) {
  const width = useChartWidth() ?? WIDTH;
  return (
    <text x={width / 2} y={22} textAnchor="middle" fontSize={16} fontWeight={600} fill="#0f172a">
      {task}: accuracy ({metric}) against alpha{points === 0 ? ": waiting for the first merged model" : ""}
    </text>
  );
}

/** Pixels the random-sign control's marker sits right of its alpha, so that the sweep's point at that alpha stays visible. */
const CONTROL_SHIFT = 10;

/**
 * The sweep's points (circles), the reversed vector's (a triangle on the curve) and the random-sign
 * control's (a diamond CONTROL_SHIFT pixels right of its alpha, with its interval as a whisker).
 */
function Markers({ points }: { points: readonly SweepChartPoint[] }) {
  const x = useXAxisScale();
  const y = useYAxisScale();
  if (!x || !y) return null;
  return (
    <g>
      {points.map((point) => {
        const accuracy = point.correct / point.total;
        const cx = (x(point.alpha) ?? 0) + (point.control === "random-sign" ? CONTROL_SHIFT : 0);
        const cy = y(accuracy) ?? 0;
        const attributes = {
          "data-testid": "sweep-point",
          "data-label": point.label,
          "data-alpha": point.alpha,
          "data-accuracy": accuracy,
          "data-correct": point.correct,
          "data-total": point.total,
          "data-control": point.control ?? "none",
        };
        const title = <title>{`${point.label}: ${point.correct} / ${point.total} (${percent(accuracy)}, 95% CI ${percent(point.low)} to ${percent(point.high)})`}</title>;
        if (point.control === null) {
          return (
            <circle key={point.label} cx={cx} cy={cy} r={5} fill={COLORS.sweep} stroke="#ffffff" strokeWidth={1.5} {...attributes}>
              {title}
            </circle>
          );
        }
        const [low, high] = [y(point.low) ?? cy, y(point.high) ?? cy];
        const color = point.control === "reversed" ? COLORS.reversed : COLORS.randomSign;
        return (
          <g key={point.label} {...attributes}>
            {title}
            {point.control === "random-sign" && <line x1={cx} x2={cx} y1={low} y2={high} stroke={color} strokeWidth={1.5} strokeOpacity={0.6} />}
            <path d={controlShape(point.control, cx, cy)} fill={color} stroke="#ffffff" strokeWidth={1.5} />
          </g>
        );
      })}
    </g>
  );
}

function controlShape(control: EvalControl, cx: number, cy: number): string {
  const r = 7;
  return control === "reversed" ? `M${cx},${cy - r} L${cx + r},${cy + r * 0.75} L${cx - r},${cy + r * 0.75} Z` : `M${cx},${cy - r} L${cx + r},${cy} L${cx},${cy + r} L${cx - r},${cy} Z`;
}

/** The legend, drawn inside the SVG so that a saved chart keeps it. */
function ChartLegend({ hasTarget, controls }: { hasTarget: boolean; controls: EvalControl[] }) {
  const area = usePlotArea();
  if (!area) return null;
  const entries: { key: string; label: string; swatch: ReactNode }[] = [
    { key: "sweep", label: "merged", swatch: <><line x1={0} x2={20} y1={0} y2={0} stroke={COLORS.sweep} strokeWidth={2} /><circle cx={10} cy={0} r={4} fill={COLORS.sweep} /></> },
    { key: "band", label: "95% interval (Wilson)", swatch: <rect x={0} y={-6} width={20} height={12} fill={COLORS.band} fillOpacity={0.5} /> },
  ];
  if (hasTarget) entries.push({ key: "target", label: "target", swatch: <line x1={0} x2={20} y1={0} y2={0} stroke={COLORS.target} strokeWidth={1.5} strokeDasharray="6 4" /> });
  for (const control of controls) {
    entries.push({ key: control, label: CONTROL_LABELS[control], swatch: <path d={controlShape(control, 10, 0)} fill={control === "reversed" ? COLORS.reversed : COLORS.randomSign} /> });
  }
  let offset = 0;
  return (
    <g transform={`translate(${area.x}, 44)`}>
      {entries.map((entry) => {
        const at = offset;
        offset += 42 + entry.label.length * 7;
        return (
          <g key={entry.key} transform={`translate(${at}, 0)`}>
            {entry.swatch}
            <text x={26} y={4} fontSize={12} fill="#334155">
              {entry.label}
            </text>
          </g>
        );
      })}
    </g>
  );
}
