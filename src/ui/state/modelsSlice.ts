import type { StateCreator } from "zustand";
import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { inspectModel } from "../../core/model/inspectModel.ts";
import { oneLineMessage } from "../../core/messages/safeText.ts";
import { summarizeModel, type ModelSummary } from "../../core/plan/summarizeModel.ts";
import { openFileListSource } from "../../core/sources/openFileListSource.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import { openHubSource } from "../../core/sources/openHubSource.ts";
import { findPaperTrio } from "./findPaperTrio.ts";
import { inputTitle, type ModelInput } from "./modelInput.ts";
import { draftSlots, minusSlot, plusSlot, slotKind, type SlotKey } from "./recipeDraft.ts";
import type { LinkRecipe } from "./recipeLink.ts";
import { usableToken } from "./settingsSlice.ts";
import type { StudioState } from "./studioStore.ts";

export type ModelSlot =
  | { status: "empty" }
  /** `hubStatus`: while the inspection waits on the Hub's rate limit. */
  | { status: "inspecting"; input: ModelInput; hubStatus?: HubStatus }
  | { status: "ready"; input: ModelInput; info: ModelInfo; summary: ModelSummary }
  /** `error`: the CLI's message for the same input (its `error: ` line without the prefix), one line, control characters escaped. */
  | { status: "failed"; input: ModelInput; error: string };

export type PresetState = { status: "idle" } | { status: "searching" } | { status: "failed"; error: string };

export interface ModelsSlice {
  /** One slot per model of the recipe (target; plus and minus of each vector); a slot not listed is empty. */
  models: Partial<Record<SlotKey, ModelSlot>>;
  preset: PresetState;
  /** Picks a model for a slot and reads its config.json and safetensors headers (no weights). */
  pickModel: (slot: SlotKey, input: ModelInput) => void;
  clearModel: (slot: SlotKey) => void;
  /** Forgets the slots (of a removed vector), aborting their inspections. */
  dropSlots: (slots: readonly SlotKey[]) => void;
  reinspectHubModels: () => void;
  /** Fills the one-vector recipe with an Instruct / GRPO / SFT trio of one family, found on the current Hub (weight 1). */
  applyPaperPreset: () => Promise<void>;
  /**
   * The toy demo in one click: target demo/Toy-Instruct, plus demo/Toy-GRPO, minus demo/Toy-SFT
   * (weight 1), and the Evaluate panel on toy-reasoning at alphas -1, 0, 1 in float32 (the toy
   * models' own arithmetic; they are tiny).
   */
  applyToyPreset: () => void;
}

/** The demo Hub's toy trio (writeDemoHub): a target trained on its own task, and a GRPO donor with the SFT model it started from. */
const TOY_PRESET_TRIO = { target: "demo/Toy-Instruct", plus: "demo/Toy-GRPO", minus: "demo/Toy-SFT" } as const;

const EMPTY_SLOT: ModelSlot = { status: "empty" };

/** A slot's model, empty when the slot is not listed. */
export const slotOf = (models: ModelsSlice["models"], slot: SlotKey): ModelSlot => models[slot] ?? EMPTY_SLOT;

/** The inspection in flight per slot: a newer pick aborts the older one. */
const inspections = new Map<SlotKey, AbortController>();

/** A failure as the CLI prints it (one line, control characters escaped), but for its "error: " prefix. */
const describeFailure = (error: unknown) => oneLineMessage(error instanceof Error ? error.message : String(error));

/**
 * How messages about a slot's model start, as the CLI's do: "target", and "plus" / "minus" for the
 * first vector (the CLI's one-vector flags), "vectors[j].plus" for the others.
 */
function slotLabel(slot: SlotKey, vectorIds: readonly string[]): string {
  const kind = slotKind(slot);
  if (kind === "target") return kind;
  const index = vectorIds.indexOf(slot.slice(kind.length + 1));
  return index <= 0 ? kind : `vectors[${index}].${kind}`;
}

/**
 * Opens and inspects one slot's model. Messages start with the slot's label, as the CLI's do: an
 * inspection's `plus (org/name@sha): model.safetensors: ...` is the CLI's line for the same files.
 */
async function openAndInspect(
  role: string,
  input: ModelInput,
  hub: { hubUrl: string; accessToken: string | undefined; onStatus: (status: HubStatus) => void },
  signal: AbortSignal,
) {
  const { hubUrl, accessToken, onStatus } = hub;
  let source;
  try {
    source =
      input.kind === "hub"
        ? await openHubSource(inputTitle(input), { hubUrl, onStatus, ...(accessToken ? { accessToken } : {}) })
        : openFileListSource(input.label, input.files);
  } catch (error) {
    throw new Error(`${role}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  try {
    return await inspectModel(source, signal, role);
  } catch (error) {
    await source.close?.();
    throw error;
  }
}

function releaseSlot(slot: ModelSlot): void {
  if (slot.status === "ready") void slot.info.source.close?.();
}

export const createModelsSlice =
  (link: LinkRecipe, firstVectorId: string): StateCreator<StudioState, [], [], ModelsSlice> =>
  (set, get) => {
    const setSlot = (key: SlotKey, slot: ModelSlot) => set((state) => ({ models: { ...state.models, [key]: slot } }));
    const linkSlot = (input: ModelInput | undefined): ModelSlot => (input ? { status: "inspecting", input } : EMPTY_SLOT);

    return {
      models: {
        target: linkSlot(link.inputs.target),
        [plusSlot(firstVectorId)]: linkSlot(link.inputs.plus),
        [minusSlot(firstVectorId)]: linkSlot(link.inputs.minus),
      },
      preset: { status: "idle" },

      pickModel: (role, input) => {
        inspections.get(role)?.abort();
        const controller = new AbortController();
        inspections.set(role, controller);
        releaseSlot(slotOf(get().models, role));
        setSlot(role, { status: "inspecting", input });
        get().discardMergeResult();
        const state = get();
        const label = slotLabel(role, state.vectors.map((vector) => vector.id));
        // Shown on the card while this inspection waits on the Hub's rate limit; later reads of the source are not its business.
        const onStatus = (status: HubStatus) => {
          const slot = slotOf(get().models, role);
          if (controller.signal.aborted || slot.status !== "inspecting" || slot.input !== input) return;
          setSlot(role, { status: "inspecting", input, ...(status.kind === "rate-limited" ? { hubStatus: status } : {}) });
        };
        openAndInspect(label, input, { hubUrl: state.hubUrl, accessToken: usableToken(state), onStatus }, controller.signal).then(
          (info) => {
            if (controller.signal.aborted) return void info.source.close?.();
            setSlot(role, { status: "ready", input, info, summary: summarizeModel(info) });
          },
          (error: unknown) => {
            if (controller.signal.aborted) return;
            setSlot(role, { status: "failed", input, error: describeFailure(error) });
          },
        );
      },

      clearModel: (role) => {
        inspections.get(role)?.abort();
        inspections.delete(role);
        releaseSlot(slotOf(get().models, role));
        setSlot(role, EMPTY_SLOT);
        get().discardMergeResult();
      },

      dropSlots: (slots) => {
        const models = { ...get().models };
        for (const key of slots) {
          inspections.get(key)?.abort();
          inspections.delete(key);
          releaseSlot(slotOf(models, key));
          delete models[key];
        }
        set({ models });
        get().discardMergeResult();
      },

      reinspectHubModels: () => {
        for (const key of draftSlots(get())) {
          const slot = slotOf(get().models, key);
          if (slot.status !== "empty" && slot.input.kind === "hub") get().pickModel(key, slot.input);
        }
      },

      applyPaperPreset: async () => {
        set({ preset: { status: "searching" } });
        try {
          const state = get();
          const trio = await findPaperTrio(state.hubUrl, usableToken(state));
          const vectorId = get().resetToOneVector();
          get().pickModel("target", { kind: "hub", repo: trio.target });
          get().pickModel(plusSlot(vectorId), { kind: "hub", repo: trio.plus });
          get().pickModel(minusSlot(vectorId), { kind: "hub", repo: trio.minus });
          set({ preset: { status: "idle" } });
        } catch (error) {
          set({ preset: { status: "failed", error: describeFailure(error) } });
        }
      },

      applyToyPreset: () => {
        const vectorId = get().resetToOneVector();
        get().pickModel("target", { kind: "hub", repo: TOY_PRESET_TRIO.target });
        get().pickModel(plusSlot(vectorId), { kind: "hub", repo: TOY_PRESET_TRIO.plus });
        get().pickModel(minusSlot(vectorId), { kind: "hub", repo: TOY_PRESET_TRIO.minus });
        get().setEvalTask({ kind: "toy", name: "toy-reasoning" });
        get().setEvalSettings({ evalAlphas: "-1, 0, 1", evalFormat: "f32" });
        set({ preset: { status: "idle" } });
      },
    };
  };
