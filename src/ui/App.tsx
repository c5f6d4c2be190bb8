import { useEffect } from "react";
import { HubModelList } from "./HubModelList.tsx";
import { HubUrlForm } from "./HubUrlForm.tsx";
import { useStudioStore } from "./store.ts";

export function App() {
  const loadModels = useStudioStore((state) => state.loadModels);

  useEffect(() => {
    void loadModels();
  }, [loadModels]);

  return (
    <div className="min-h-screen bg-slate-50 text-slate-900">
      <main className="mx-auto flex max-w-4xl flex-col gap-6 px-6 py-10">
        <header className="flex flex-col gap-2">
          <h1 className="text-3xl font-semibold tracking-tight">Merge Studio</h1>
          <p className="text-slate-600">
            Merges three models of one family with{" "}
            <code className="rounded bg-slate-200/70 px-1.5 py-0.5 font-mono text-sm text-slate-800">
              merged = target + α · (plus − minus)
            </code>
            , e.g. plus = GRPO, minus = SFT.
          </p>
        </header>
        <section className="flex flex-col gap-5 rounded-xl border border-slate-200 bg-white p-6 shadow-sm">
          <HubUrlForm />
          <HubModelList />
        </section>
      </main>
    </div>
  );
}
