import { oneLineMessage } from "../../core/messages/safeText.ts";
import type { CompatibilityIssue, MergePlan } from "../../core/plan/planMerge.ts";
import { slotOf } from "../state/modelsSlice.ts";
import { draftProblems, draftSlots, slotKind, type SlotKey } from "../state/recipeDraft.ts";
import { selectMergePlan } from "../state/selectMergePlan.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { sectionClass, sectionTitleClass } from "./styles.ts";

const SHOWN_ISSUES = 12;

type Verdict = "pending" | "ok" | "warnings" | "errors";

const VERDICT_LOOK: Record<Verdict, string> = {
  pending: "border-slate-200 bg-slate-50 text-slate-700",
  ok: "border-emerald-200 bg-emerald-50 text-emerald-900",
  warnings: "border-amber-200 bg-amber-50 text-amber-900",
  errors: "border-red-200 bg-red-50 text-red-900",
};

/** A slot as the page names it: target, plus, minus (first vector), plus 2, minus 2, … */
function slotName(slot: SlotKey, vectorIds: readonly string[]): string {
  const kind = slotKind(slot);
  const index = kind === "target" ? 0 : vectorIds.indexOf(slot.slice(kind.length + 1));
  return index > 0 ? `${kind} ${index + 1}` : kind;
}

/**
 * Whether the recipe's models can be merged, from their headers alone, in plain words: the target
 * against every vector's plus and minus (selectMergePlan), once every model is read and every
 * setting is a value.
 */
export function CompatibilityReport() {
  const models = useStudioStore((state) => state.models);
  const vectors = useStudioStore((state) => state.vectors);
  const plan = useStudioStore(selectMergePlan);
  const settingsWrong = useStudioStore((state) => Object.keys(state.fieldProblems).length > 0 || draftProblems(state).length > 0);
  const slots = draftSlots({ vectors });
  const vectorIds = vectors.map((vector) => vector.id);
  const count = slots.length === 3 ? "three" : String(slots.length);
  const chosen = slots.filter((slot) => slotOf(models, slot).status !== "empty").length;
  const unreadable = slots.filter((slot) => slotOf(models, slot).status === "failed").map((slot) => slotName(slot, vectorIds));
  const failures = slots.flatMap((key) => {
    const slot = slotOf(models, key);
    return slot.status === "failed" ? [slot.error] : [];
  });

  let verdict: Verdict = "pending";
  let headline: string;
  if (chosen < slots.length) headline = `Pick all ${count} models to check them (${chosen} of ${slots.length} chosen).`;
  else if (unreadable.length > 0) headline = `Cannot check yet: the ${unreadable.join(" and ")} model could not be read.`;
  else if (!plan && settingsWrong) headline = "Cannot check yet: a setting of the recipe is not a value (the field says what is wrong).";
  else if (!plan) headline = `Reading the headers of the ${count} models…`;
  else {
    const errors = plan.issues.filter((issue) => issue.severity === "error").length;
    const warnings = plan.issues.filter((issue) => issue.severity === "warning").length;
    verdict = errors > 0 ? "errors" : warnings > 0 ? "warnings" : "ok";
    headline =
      errors > 0
        ? `Not compatible: ${errors} ${errors === 1 ? "problem stops" : "problems stop"} the merge.`
        : warnings > 0
          ? `Compatible, with ${warnings} ${warnings === 1 ? "warning" : "warnings"}.`
          : `Compatible: the ${count} models have the same architecture, tensors and shapes.`;
  }

  return (
    <section data-testid="compat-report" data-verdict={verdict} aria-labelledby="compat-title" aria-live="polite" className={sectionClass}>
      <h2 id="compat-title" className={sectionTitleClass}>
        Compatibility
      </h2>
      <p role="status" className={`flex items-center gap-2 rounded-lg border px-3 py-2 text-sm font-medium ${VERDICT_LOOK[verdict]}`}>
        <span aria-hidden="true">{verdict === "ok" ? "✓" : verdict === "warnings" ? "!" : verdict === "errors" ? "✕" : "…"}</span>
        {headline}
      </p>
      {failures.length > 0 && (
        <ul data-testid="compat-unreadable" className="list-disc space-y-1 pl-5 text-sm wrap-anywhere text-red-800">
          {failures.map((failure, index) => (
            <li key={index}>{failure}</li>
          ))}
        </ul>
      )}
      {plan && <PlanDetails plan={plan} />}
      <VocabOption highlighted={plan?.issues.some((issue) => issue.message.includes("vocabulary sizes differ")) ?? false} />
    </section>
  );
}

function PlanDetails({ plan }: { plan: MergePlan }) {
  const bySeverity = (severity: CompatibilityIssue["severity"]) => plan.issues.filter((issue) => issue.severity === severity);
  const merged = plan.tensors.filter((tensor) => tensor.mergedElements > 0).length;
  const copied = plan.tensors.length - merged;
  return (
    <div className="flex flex-col gap-3">
      <IssueList title="Problems" issues={bySeverity("error")} tone="text-red-800" />
      <IssueList title="Warnings" issues={bySeverity("warning")} tone="text-amber-800" />
      {plan.ok && (
        <p className="text-sm text-slate-600">
          {merged} of {plan.tensors.length} tensors will be merged
          {copied > 0 && `, ${copied} copied from the target`}
          {plan.tiedEmbeddings && "; lm_head stays tied to the embeddings"}. Nothing has been downloaded but headers.
        </p>
      )}
      {bySeverity("info").length > 0 && (
        <details className="text-sm text-slate-600">
          <summary className="cursor-pointer text-slate-500 hover:text-slate-700">Notes ({bySeverity("info").length})</summary>
          <ul className="mt-2 list-disc space-y-1 pl-5">
            {bySeverity("info").map((issue, index) => (
              <li key={index}>{oneLineMessage(issue.message)}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function IssueList({ title, issues, tone }: { title: string; issues: CompatibilityIssue[]; tone: string }) {
  if (issues.length === 0) return null;
  const shown = issues.slice(0, SHOWN_ISSUES);
  const rest = issues.slice(SHOWN_ISSUES);
  const item = (issue: CompatibilityIssue, index: number) => (
    <li key={index} className="break-words">
      {oneLineMessage(issue.message)}
    </li>
  );
  return (
    <div className={`text-sm ${tone}`}>
      <h3 className="font-medium">{title}</h3>
      <ul className="mt-1 list-disc space-y-1 pl-5">{shown.map(item)}</ul>
      {rest.length > 0 && (
        <details className="mt-1 pl-5">
          <summary className="cursor-pointer">and {rest.length} more</summary>
          <ul className="mt-1 list-disc space-y-1 pl-5">{rest.map(item)}</ul>
        </details>
      )}
    </div>
  );
}

function VocabOption({ highlighted }: { highlighted: boolean }) {
  const vocab = useStudioStore((state) => state.vocab);
  const setVocab = useStudioStore((state) => state.setVocab);
  return (
    <label className={`flex items-start gap-2.5 rounded-lg px-3 py-2 text-sm ${highlighted ? "bg-indigo-50 ring-1 ring-indigo-200" : ""}`}>
      <input
        type="checkbox"
        checked={vocab === "common"}
        onChange={(event) => setVocab(event.target.checked ? "common" : "exact")}
        className="mt-0.5 size-4 accent-indigo-600"
      />
      <span>
        <span className="font-medium text-slate-800">Merge the common rows</span>
        <span className="block text-slate-500">
          When vocabulary sizes differ, merge the embedding rows all three models have and keep the target's other rows unchanged.
        </span>
      </span>
    </label>
  );
}
