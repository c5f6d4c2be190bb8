import { useStudioStore, type HubModel } from "./store.ts";

const countFormat = new Intl.NumberFormat(undefined, { notation: "compact" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

function UpdatedAt({ date }: { date: Date }) {
  if (Number.isNaN(date.getTime())) return <span className="text-slate-400">—</span>;
  return <time dateTime={date.toISOString()}>{dateFormat.format(date)}</time>;
}

function HubModelTable({ models }: { models: HubModel[] }) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200">
      <table data-testid="model-list" className="w-full text-left text-sm">
        <thead className="bg-slate-50 text-xs font-medium tracking-wide text-slate-500 uppercase">
          <tr>
            <th scope="col" className="px-4 py-2.5">Model</th>
            <th scope="col" className="px-4 py-2.5 text-right">Downloads</th>
            <th scope="col" className="px-4 py-2.5 text-right">Likes</th>
            <th scope="col" className="px-4 py-2.5 text-right">Last updated</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {models.map((model) => (
            <tr key={model.name} className="hover:bg-slate-50">
              <th scope="row" className="px-4 py-2.5 font-mono font-normal text-slate-900">{model.name}</th>
              <td className="px-4 py-2.5 text-right text-slate-600 tabular-nums">{countFormat.format(model.downloads)}</td>
              <td className="px-4 py-2.5 text-right text-slate-600 tabular-nums">{countFormat.format(model.likes)}</td>
              <td className="px-4 py-2.5 text-right whitespace-nowrap text-slate-600">
                <UpdatedAt date={model.updatedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function HubModelList() {
  const modelList = useStudioStore((state) => state.modelList);

  return (
    <div className="flex flex-col gap-3" aria-busy={modelList.status === "loading"}>
      <div className="flex items-baseline justify-between gap-4">
        <h2 className="text-lg font-semibold">Models on this Hub</h2>
        {modelList.status === "loaded" && (
          <span className="text-sm text-slate-500">
            {modelList.models.length} {modelList.models.length === 1 ? "model" : "models"}
          </span>
        )}
      </div>
      <p role="status" className="text-sm text-slate-500 empty:hidden">
        {modelList.status === "loading" && `Listing models on ${modelList.hubUrl}…`}
        {modelList.status === "loaded" && modelList.models.length === 0 && `${modelList.hubUrl} offers no models.`}
      </p>
      {modelList.status === "failed" && (
        <p data-testid="error" role="alert" className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">
          {modelList.error}
        </p>
      )}
      {modelList.status === "loaded" && modelList.models.length > 0 && <HubModelTable models={modelList.models} />}
    </div>
  );
}
