import { CompatibilityReport } from "./components/CompatibilityReport.tsx";
import { ErrorMessage } from "./components/ErrorMessage.tsx";
import { EvalPanel } from "./components/EvalPanel.tsx";
import { HubSettings } from "./components/HubSettings.tsx";
import { MergekitPanel } from "./components/MergekitPanel.tsx";
import { MergePanel } from "./components/MergePanel.tsx";
import { MethodPicker } from "./components/MethodPicker.tsx";
import { ModelCard } from "./components/ModelCard.tsx";
import { OutputSettings } from "./components/OutputSettings.tsx";
import { PaperPresetButton } from "./components/PaperPresetButton.tsx";
import { ShareLink } from "./components/ShareLink.tsx";
import { ToyPresetButton } from "./components/ToyPresetButton.tsx";
import { secondaryButtonClass, sectionClass, sectionTitleClass } from "./components/styles.ts";
import { VectorCard } from "./components/VectorCard.tsx";
import { VectorInspector } from "./components/VectorInspector.tsx";
import { useStudioStore } from "./state/studioStore.ts";

export function App() {
  const merging = useStudioStore((state) => state.merge.status === "running");
  const linkProblems = useStudioStore((state) => state.linkProblems);
  const vectors = useStudioStore((state) => state.vectors);
  const addVector = useStudioStore((state) => state.addVector);
  const toyTask = useStudioStore((state) => state.evalTask.kind === "toy");

  return (
    <div className="min-h-screen bg-slate-50 text-slate-900">
      <main className="mx-auto flex max-w-6xl flex-col gap-6 px-4 py-10 sm:px-6">
        <header className="flex flex-col gap-2">
          <h1 className="text-3xl font-semibold tracking-tight">Merge Studio</h1>
          <p className="text-slate-600">
            Merges models of one family with{" "}
            <code className="rounded bg-slate-200/70 px-1.5 py-0.5 font-mono text-sm text-slate-800">merged = target + α · (plus − minus)</code>, or several
            such vectors with TIES, DARE or breadcrumbs, in this browser, from the safetensors headers first and the weights streamed after.
          </p>
        </header>
        {linkProblems.map((problem) => (
          <ErrorMessage key={problem}>{problem}</ErrorMessage>
        ))}
        <fieldset disabled={merging} className="flex min-w-0 flex-col gap-6">
          <legend className="sr-only">Recipe</legend>
          <section aria-labelledby="hub-title" className={sectionClass}>
            <h2 id="hub-title" className={sectionTitleClass}>
              Hub
            </h2>
            <HubSettings />
          </section>
          <section aria-labelledby="models-title" className="flex flex-col gap-4">
            <div className="flex flex-col gap-2">
              <h2 id="models-title" className={sectionTitleClass}>
                Models
              </h2>
              <ToyPresetButton />
              <PaperPresetButton />
            </div>
            <div className="grid gap-4 lg:grid-cols-3">
              <ModelCard slotKey="target" />
              <section aria-labelledby="method-title" className={`${sectionClass} lg:col-span-2`}>
                <h3 id="method-title" className="font-semibold text-slate-900">
                  Recipe
                </h3>
                <MethodPicker />
              </section>
            </div>
            {vectors.map((vector, index) => (
              <VectorCard key={vector.id} vector={vector} index={index} count={vectors.length} />
            ))}
            <button type="button" data-testid="add-vector" className={`${secondaryButtonClass} self-start`} onClick={addVector}>
              + Add a vector
            </button>
          </section>
          <CompatibilityReport />
          <VectorInspector />
          <section aria-labelledby="output-title" className={sectionClass}>
            <h2 id="output-title" className={sectionTitleClass}>
              Output
            </h2>
            <OutputSettings />
          </section>
          <section aria-labelledby="mergekit-title" className={sectionClass}>
            <h2 id="mergekit-title" className={sectionTitleClass}>
              mergekit
            </h2>
            <MergekitPanel />
          </section>
        </fieldset>
        <section aria-labelledby="merge-title" className={sectionClass}>
          <h2 id="merge-title" className={sectionTitleClass}>
            Merge
          </h2>
          <MergePanel />
          <ShareLink />
        </section>
        <section aria-labelledby="eval-title" className={sectionClass}>
          <div className="flex flex-col gap-1">
            <h2 id="eval-title" className={sectionTitleClass}>
              {toyTask ? "Evaluate on a toy task" : "Evaluate on GSM8K"}
            </h2>
            <p className="text-sm text-slate-600">
              {toyTask
                ? "Held-out problems of the toy demo's tasks: does the merge answer more of them than the target?"
                : "Grade-school math word problems (GSM8K test set, MIT licence): does the merge answer more of them than the target?"}
            </p>
          </div>
          <EvalPanel />
        </section>
      </main>
    </div>
  );
}
