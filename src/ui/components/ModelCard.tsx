import { useState, type DragEvent } from "react";
import { oneLineMessage } from "../../core/messages/safeText.ts";
import type { Role } from "../state/recipeLink.ts";
import { readDroppedFolder } from "../state/droppedFolder.ts";
import { inputTitle } from "../state/modelInput.ts";
import type { ModelSlot } from "../state/modelsSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { HubWait } from "./HubWait.tsx";
import { HubModelSearch } from "./HubModelSearch.tsx";
import { LocalFolderPicker } from "./LocalFolderPicker.tsx";
import { ModelSummaryList } from "./ModelSummaryList.tsx";
import { secondaryButtonClass } from "./styles.ts";

const ROLE_LOOK: Record<Role, { title: string; sign: string; hint: string; accent: string; badge: string }> = {
  target: {
    title: "Target",
    sign: "T",
    hint: "Receives the vector, e.g. an Instruct model.",
    accent: "border-t-indigo-500",
    badge: "bg-indigo-100 text-indigo-700",
  },
  plus: {
    title: "Plus",
    sign: "+",
    hint: "Adds its difference from minus, e.g. GRPO.",
    accent: "border-t-emerald-500",
    badge: "bg-emerald-100 text-emerald-700",
  },
  minus: {
    title: "Minus",
    sign: "−",
    hint: "Subtracted from plus, e.g. the SFT model.",
    accent: "border-t-rose-500",
    badge: "bg-rose-100 text-rose-700",
  },
};

/** One role of the recipe: pick its model, then see what its headers say. */
export function ModelCard({ role }: { role: Role }) {
  const slot = useStudioStore((state) => state.models[role]);
  const pickModel = useStudioStore((state) => state.pickModel);
  const [dragging, setDragging] = useState(false);
  const [dropError, setDropError] = useState<string>();
  const look = ROLE_LOOK[role];
  const titleId = `model-card-${role}-title`;

  function onDrop(event: DragEvent<HTMLElement>) {
    event.preventDefault();
    setDragging(false);
    readDroppedFolder(event.dataTransfer).then(
      (input) => {
        setDropError(undefined);
        pickModel(role, input);
      },
      (error: unknown) => setDropError(oneLineMessage(error instanceof Error ? error.message : String(error))),
    );
  }

  return (
    <section
      data-testid={`model-card-${role}`}
      aria-labelledby={titleId}
      aria-busy={slot.status === "inspecting"}
      onDragOver={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
      className={`flex min-w-0 flex-col gap-4 rounded-xl border border-t-4 border-slate-200 bg-white p-5 shadow-sm transition ${look.accent} ${
        dragging ? "ring-2 ring-indigo-400 ring-offset-2" : ""
      }`}
    >
      <header className="flex items-start gap-3">
        <span aria-hidden="true" className={`grid size-8 shrink-0 place-items-center rounded-full text-base font-semibold ${look.badge}`}>
          {look.sign}
        </span>
        <div className="min-w-0">
          <h3 id={titleId} className="font-semibold text-slate-900">
            {look.title}
          </h3>
          <p className="min-h-10 text-sm text-slate-500">{look.hint}</p>
        </div>
      </header>
      <ModelSlotView role={role} roleTitle={look.title} slot={slot} />
      {dropError && <ErrorMessage>{dropError}</ErrorMessage>}
    </section>
  );
}

function ModelSlotView({ role, roleTitle, slot }: { role: Role; roleTitle: string; slot: ModelSlot }) {
  const pickModel = useStudioStore((state) => state.pickModel);
  const clearModel = useStudioStore((state) => state.clearModel);
  const hubUrl = useStudioStore((state) => state.hubUrl);
  const targetSlot = useStudioStore((state) => state.models.target);
  const pickers = (
    <div className="flex flex-col gap-3">
      <HubModelSearch roleLabel={roleTitle} onPick={(input) => pickModel(role, input)} />
      <div className="flex items-center gap-3 text-sm text-slate-500">
        <LocalFolderPicker roleLabel={roleTitle} onPick={(input) => pickModel(role, input)} />
        <span>or drop a folder here</span>
      </div>
    </div>
  );

  if (slot.status === "empty") return pickers;

  const title = inputTitle(slot.input);
  const name =
    slot.input.kind === "hub" ? (
      <a href={`${hubUrl}/${slot.input.repo}`} target="_blank" rel="noreferrer" className="break-all hover:text-indigo-700 hover:underline">
        {title}
      </a>
    ) : (
      <span className="break-all">
        {title} <span className="font-sans text-xs font-normal text-slate-500">(local folder)</span>
      </span>
    );
  const changeButton = (
    <button type="button" className={`${secondaryButtonClass} shrink-0 px-2.5 py-1 text-xs`} onClick={() => clearModel(role)} aria-label={`Change the ${roleTitle.toLowerCase()} model`}>
      Change
    </button>
  );
  const heading = (
    <div className="flex items-start justify-between gap-3">
      <p data-testid="model-name" className="min-w-0 font-mono text-sm font-medium text-slate-900">
        {name}
      </p>
      {changeButton}
    </div>
  );

  if (slot.status === "inspecting") {
    return (
      <div className="flex flex-col gap-3">
        {heading}
        <p role="status" className="flex items-center gap-2 text-sm text-slate-500">
          <span aria-hidden="true" className="size-3 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-500" />
          Reading config.json and the safetensors headers…
        </p>
        {slot.hubStatus && <HubWait status={slot.hubStatus} testId="model-hub-status" />}
      </div>
    );
  }
  if (slot.status === "failed") {
    return (
      <div className="flex flex-col gap-3">
        {heading}
        <ErrorMessage>{slot.error}</ErrorMessage>
        <button type="button" className={`${secondaryButtonClass} self-start`} onClick={() => pickModel(role, slot.input)}>
          Try again
        </button>
      </div>
    );
  }
  return (
    <div className="flex flex-col gap-3">
      {heading}
      <ModelSummaryList summary={slot.summary} reference={role !== "target" && targetSlot.status === "ready" ? targetSlot.summary : undefined} />
    </div>
  );
}
