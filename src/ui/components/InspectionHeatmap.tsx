import { useState } from "react";
import {
  LAYER_MODULES,
  MODEL_MODULES,
  type InspectedCell,
  type InspectedElements,
  type InspectionModule,
  type PairStatistics,
  type VectorInspection,
  type VectorStatistics,
} from "../../core/inspect/VectorInspection.ts";

/*
 * The heatmap is plain HTML (a CSS grid of cells) rather than a chart library: recharts, the
 * project's chart library, has no heatmap, and a grid of elements gives every cell its own
 * hover / focus, accessible text and data attributes for free.
 */

export const HEATMAP_STATISTICS = ["relativeNorm", "norm", "maxAbs", "zeroShare", "cosine", "signAgreement"] as const;
export type HeatmapStatistic = (typeof HEATMAP_STATISTICS)[number];

export const STATISTIC_LABELS: Record<HeatmapStatistic, string> = {
  relativeNorm: "‖v‖ / ‖target‖",
  norm: "‖v‖₂",
  maxAbs: "max |v|",
  zeroShare: "share of zeros",
  cosine: "cosine (two vectors)",
  signAgreement: "sign agreement (two vectors)",
};

/** Whether a statistic compares two vectors (a pair) rather than describing one. */
export const isPairStatistic = (statistic: HeatmapStatistic) => statistic === "cosine" || statistic === "signAgreement";

/** A statistic of some elements for vector `vector` or pair `pair`; null where it is undefined (a zero norm). */
export function statisticOf(elements: InspectedElements, statistic: HeatmapStatistic, vector: number, pair: number): number | null {
  if (statistic === "cosine") return elements.pairs[pair]?.cosine ?? null;
  if (statistic === "signAgreement") return elements.pairs[pair]?.signAgreement ?? null;
  return elements.vectors[vector]![statistic];
}

const MODULE_LABELS: Record<InspectionModule, string> = {
  q: "q",
  k: "k",
  v: "v",
  o: "o",
  gate: "gate",
  up: "up",
  down: "down",
  norms: "norms",
  other: "other",
  embed: "embeddings",
  lm_head: "lm_head",
};

type Rgb = [number, number, number];
const SEQUENTIAL: Rgb[] = [
  [248, 250, 252],
  [199, 210, 254],
  [99, 102, 241],
  [49, 46, 129],
];
const DIVERGING: Rgb[] = [
  [37, 99, 235],
  [248, 250, 252],
  [220, 38, 38],
];

/** The colour at t in [0, 1] along `stops`, linearly between neighbours. */
function colourAt(stops: readonly Rgb[], t: number): string {
  const position = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const low = Math.min(stops.length - 2, Math.floor(position));
  const frac = position - low;
  const [a, b] = [stops[low]!, stops[low + 1]!];
  const channel = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * frac);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

/**
 * The colour scale of a statistic over the values shown: cosine on [-1, 1] and sign agreement on
 * [0, 1], diverging around 0 and 0.5 (unrelated vectors); the others from 0 to the largest value
 * shown, sequential, linear.
 */
function colourScale(statistic: HeatmapStatistic, values: readonly (number | null)[]): { min: number; max: number; stops: readonly Rgb[] } {
  if (statistic === "cosine") return { min: -1, max: 1, stops: DIVERGING };
  if (statistic === "signAgreement") return { min: 0, max: 1, stops: DIVERGING };
  const known = values.filter((value): value is number => value !== null);
  return { min: 0, max: Math.max(0, ...known), stops: SEQUENTIAL };
}

export const formatStatistic = (value: number | null) =>
  value === null ? "n/a" : value === 0 ? "0" : Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4 ? value.toPrecision(4) : value.toExponential(3);

/** A share (zeros, sign agreement) as a percentage. */
export const formatShare = (value: number | null) => (value === null ? "n/a" : `${(100 * value).toFixed(2)}%`);

const cellKey = (cell: InspectedCell) => `${cell.layer ?? "model"}:${cell.module}`;

/**
 * The inspection as a heatmap: one row per layer, one column per module (q, k, v, o, gate, up,
 * down, norms), the embeddings, lm_head and the final norm as cells of their own below; colour = the
 * chosen statistic of the chosen vector (or pair), with its legend. Hovering or focusing a cell
 * shows its exact numbers and its tensors. Every cell carries its values as data attributes.
 */
export function InspectionHeatmap({ inspection, statistic, vector, pair }: { inspection: VectorInspection; statistic: HeatmapStatistic; vector: number; pair: number }) {
  const [selected, setSelected] = useState<string | undefined>();
  const layerCells = new Map(inspection.cells.filter((cell) => cell.layer !== null).map((cell) => [cellKey(cell), cell]));
  const columns = LAYER_MODULES.filter((module) => module !== "other" || inspection.cells.some((cell) => cell.layer !== null && cell.module === "other"));
  const modelCells = MODEL_MODULES.flatMap((module) => inspection.cells.filter((cell) => cell.layer === null && cell.module === module));
  const scale = colourScale(statistic, inspection.cells.map((cell) => statisticOf(cell, statistic, vector, pair)));
  const colourOf = (value: number | null) => (value === null ? "rgb(226, 232, 240)" : colourAt(scale.stops, scale.max > scale.min ? (value - scale.min) / (scale.max - scale.min) : 0));
  const shownCell = inspection.cells.find((cell) => cellKey(cell) === selected);

  const renderCell = (cell: InspectedCell | undefined, label: string, key: string) => {
    if (!cell) return <div key={key} className="h-6 rounded-sm bg-slate-50" aria-hidden="true" />;
    const value = statisticOf(cell, statistic, vector, pair);
    const stats = cell.vectors[vector]!;
    const pairStats = cell.pairs[pair];
    const where = cell.layer === null ? MODULE_LABELS[cell.module] : `layer ${cell.layer} ${MODULE_LABELS[cell.module]}`;
    const name = cellKey(cell);
    return (
      <button
        key={key}
        type="button"
        data-testid="heatmap-cell"
        data-layer={cell.layer ?? "model"}
        data-module={cell.module}
        data-statistic={statistic}
        data-value={value ?? ""}
        data-elements={cell.elements}
        data-relative-norm={stats.relativeNorm ?? ""}
        data-norm={stats.norm}
        data-max-abs={stats.maxAbs}
        data-zero-share={stats.zeroShare}
        data-non-finite={stats.nonFinite}
        data-cosine={pairStats ? (pairStats.cosine ?? "") : undefined}
        data-sign-agreement={pairStats ? (pairStats.signAgreement ?? "") : undefined}
        data-tensors={cell.tensors.join(" ")}
        aria-label={`${where}: ${STATISTIC_LABELS[statistic]} ${formatStatistic(value)}`}
        aria-pressed={selected === name}
        className={`h-6 min-w-0 rounded-sm text-[10px] leading-6 focus-visible:outline-2 focus-visible:outline-indigo-600 ${selected === name ? "ring-2 ring-slate-900" : ""}`}
        style={{ backgroundColor: colourOf(value) }}
        onMouseEnter={() => setSelected(name)}
        onFocus={() => setSelected(name)}
        onClick={() => setSelected(name)}
      >
        <span className="sr-only">{label}</span>
      </button>
    );
  };

  return (
    <div className="flex flex-col gap-4 lg:flex-row">
      <div className="flex min-w-0 flex-1 flex-col gap-3">
        <div data-testid="heatmap" className="grid gap-0.5 text-xs text-slate-600" style={{ gridTemplateColumns: `4.5rem repeat(${columns.length}, minmax(1.5rem, 1fr))` }}>
          <div />
          {columns.map((module) => (
            <div key={module} className="text-center font-medium">
              {MODULE_LABELS[module]}
            </div>
          ))}
          {Array.from({ length: inspection.layers }, (_, layer) => [
            <div key={`label-${layer}`} className="pr-1 text-right leading-6 tabular-nums">
              layer {layer}
            </div>,
            ...columns.map((module) => renderCell(layerCells.get(`${layer}:${module}`), `layer ${layer} ${module}`, `${layer}:${module}`)),
          ])}
        </div>
        {modelCells.length > 0 && (
          <div className="grid gap-0.5 text-xs text-slate-600" style={{ gridTemplateColumns: `4.5rem repeat(${modelCells.length}, minmax(4rem, 7rem))` }}>
            <div />
            {modelCells.map((cell) => (
              <div key={cellKey(cell)} className="text-center font-medium">
                {cell.module === "norms" ? "final norm" : MODULE_LABELS[cell.module]}
              </div>
            ))}
            <div className="pr-1 text-right leading-6">model</div>
            {modelCells.map((cell) => renderCell(cell, MODULE_LABELS[cell.module], cellKey(cell)))}
          </div>
        )}
        <Legend statistic={statistic} min={scale.min} max={scale.max} stops={scale.stops} />
      </div>
      <CellDetails inspection={inspection} cell={shownCell} statistic={statistic} vector={vector} pair={pair} />
    </div>
  );
}

function Legend({ statistic, min, max, stops }: { statistic: HeatmapStatistic; min: number; max: number; stops: readonly Rgb[] }) {
  const gradient = `linear-gradient(to right, ${stops.map((_, i) => colourAt(stops, i / (stops.length - 1))).join(", ")})`;
  return (
    <div data-testid="heatmap-legend" data-min={min} data-max={max} className="flex max-w-md flex-col gap-1 text-xs text-slate-600">
      <span className="font-medium text-slate-700">{STATISTIC_LABELS[statistic]}</span>
      <div className="h-3 rounded-sm border border-slate-200" style={{ background: gradient }} />
      <div className="flex justify-between tabular-nums">
        <span>{formatStatistic(min)}</span>
        <span>{formatStatistic((min + max) / 2)}</span>
        <span>{formatStatistic(max)}</span>
      </div>
      <span className="text-slate-500">
        Grey: undefined (a zero norm, or no element non-zero in both vectors). A cell is the concatenation of its tensors.
      </span>
    </div>
  );
}

function CellDetails({ inspection, cell, statistic, vector, pair }: { inspection: VectorInspection; cell: InspectedCell | undefined; statistic: HeatmapStatistic; vector: number; pair: number }) {
  if (!cell) {
    return <p className="text-sm text-slate-500 lg:w-96">Hover over or focus a cell for its exact numbers and tensors.</p>;
  }
  const tensors = inspection.tensors.filter((tensor) => cell.tensors.includes(tensor.name));
  return (
    <div data-testid="heatmap-details" className="flex flex-col gap-2 text-sm lg:w-96">
      <h4 className="font-medium text-slate-900">{cell.layer === null ? MODULE_LABELS[cell.module] : `Layer ${cell.layer}, ${MODULE_LABELS[cell.module]}`}</h4>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 tabular-nums">
        <dt className="text-slate-500">elements</dt>
        <dd>{cell.elements}</dd>
        <dt className="text-slate-500">‖target‖₂</dt>
        <dd>{formatStatistic(cell.targetNorm)}</dd>
        {cell.vectors.map((stats, j) => (
          <VectorRows key={j} label={vectorName(j)} stats={stats} />
        ))}
        {cell.pairs.map((pairStats) => (
          <PairRows key={pairStats.vectors.join(",")} pair={pairStats} />
        ))}
      </dl>
      <h5 className="font-medium text-slate-700">Tensors ({STATISTIC_LABELS[statistic]})</h5>
      <ul className="flex flex-col gap-0.5 text-xs">
        {tensors.map((tensor) => (
          <li key={tensor.name} className="flex justify-between gap-2">
            <code className="wrap-anywhere">{tensor.name}</code>
            <span className="tabular-nums">{formatStatistic(statisticOf(tensor, statistic, vector, pair))}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** A vector as the page numbers them: vector 1, vector 2, ... */
export const vectorName = (index: number) => `vector ${index + 1}`;

function VectorRows({ label, stats }: { label: string; stats: VectorStatistics }) {
  return (
    <>
      <dt className="col-span-2 mt-1 font-medium text-slate-700">{label}</dt>
      <dt className="text-slate-500">‖v‖ / ‖target‖</dt>
      <dd>{formatStatistic(stats.relativeNorm)}</dd>
      <dt className="text-slate-500">‖v‖₂</dt>
      <dd>{formatStatistic(stats.norm)}</dd>
      <dt className="text-slate-500">max |v|</dt>
      <dd>{formatStatistic(stats.maxAbs)}</dd>
      <dt className="text-slate-500">zeros</dt>
      <dd>
        {stats.zeros} ({formatShare(stats.zeroShare)})
      </dd>
      {stats.nonFinite > 0 && (
        <>
          <dt className="text-slate-500">NaN / Inf (left out)</dt>
          <dd>{stats.nonFinite}</dd>
        </>
      )}
    </>
  );
}

function PairRows({ pair }: { pair: PairStatistics }) {
  const [i, j] = pair.vectors;
  return (
    <>
      <dt className="col-span-2 mt-1 font-medium text-slate-700">
        {vectorName(i)} and {vectorName(j)}
      </dt>
      <dt className="text-slate-500">cosine</dt>
      <dd>{formatStatistic(pair.cosine)}</dd>
      <dt className="text-slate-500">sign agreement</dt>
      <dd>
        {formatShare(pair.signAgreement)} of {pair.bothNonZero}
      </dd>
    </>
  );
}
