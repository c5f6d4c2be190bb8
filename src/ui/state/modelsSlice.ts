import type { StateCreator } from "zustand";
import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { inspectModel } from "../../core/model/inspectModel.ts";
import { oneLineMessage } from "../../core/messages/safeText.ts";
import type { Role } from "./recipeLink.ts";
import { summarizeModel, type ModelSummary } from "../../core/plan/summarizeModel.ts";
import { openFileListSource } from "../../core/sources/openFileListSource.ts";
import type { HubStatus } from "../../core/sources/hubStatus.ts";
import { openHubSource } from "../../core/sources/openHubSource.ts";
import { findPaperTrio } from "./findPaperTrio.ts";
import { inputTitle, type ModelInput } from "./modelInput.ts";
import { ROLES, type LinkRecipe } from "./recipeLink.ts";
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
  models: Record<Role, ModelSlot>;
  preset: PresetState;
  /** Picks a model for a role and reads its config.json and safetensors headers (no weights). */
  pickModel: (role: Role, input: ModelInput) => void;
  clearModel: (role: Role) => void;
  reinspectHubModels: () => void;
  /** Fills the three roles with an Instruct / GRPO / SFT trio of one family, found on the current Hub. */
  applyPaperPreset: () => Promise<void>;
}

/** The inspection in flight per role: a newer pick aborts the older one. */
const inspections = new Map<Role, AbortController>();

/** A failure as the CLI prints it (one line, control characters escaped), but for its "error: " prefix. */
const describeFailure = (error: unknown) => oneLineMessage(error instanceof Error ? error.message : String(error));

/**
 * Opens and inspects one role's model. Messages start with the role, as the CLI's do: an inspection's
 * `plus (org/name@sha): model.safetensors: ...` is the CLI's line for the same files.
 */
async function openAndInspect(
  role: Role,
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
  (link: LinkRecipe): StateCreator<StudioState, [], [], ModelsSlice> =>
  (set, get) => {
    const setSlot = (role: Role, slot: ModelSlot) => set((state) => ({ models: { ...state.models, [role]: slot } }));

    return {
      models: {
        target: link.inputs.target ? { status: "inspecting", input: link.inputs.target } : { status: "empty" },
        plus: link.inputs.plus ? { status: "inspecting", input: link.inputs.plus } : { status: "empty" },
        minus: link.inputs.minus ? { status: "inspecting", input: link.inputs.minus } : { status: "empty" },
      },
      preset: { status: "idle" },

      pickModel: (role, input) => {
        inspections.get(role)?.abort();
        const controller = new AbortController();
        inspections.set(role, controller);
        releaseSlot(get().models[role]);
        setSlot(role, { status: "inspecting", input });
        get().discardMergeResult();
        const state = get();
        // Shown on the card while this inspection waits on the Hub's rate limit; later reads of the source are not its business.
        const onStatus = (status: HubStatus) => {
          const slot = get().models[role];
          if (controller.signal.aborted || slot.status !== "inspecting" || slot.input !== input) return;
          setSlot(role, { status: "inspecting", input, ...(status.kind === "rate-limited" ? { hubStatus: status } : {}) });
        };
        openAndInspect(role, input, { hubUrl: state.hubUrl, accessToken: usableToken(state), onStatus }, controller.signal).then(
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
        releaseSlot(get().models[role]);
        setSlot(role, { status: "empty" });
        get().discardMergeResult();
      },

      reinspectHubModels: () => {
        for (const role of ROLES) {
          const slot = get().models[role];
          if (slot.status !== "empty" && slot.input.kind === "hub") get().pickModel(role, slot.input);
        }
      },

      applyPaperPreset: async () => {
        set({ preset: { status: "searching" } });
        try {
          const state = get();
          const trio = await findPaperTrio(state.hubUrl, usableToken(state));
          for (const role of ROLES) get().pickModel(role, { kind: "hub", repo: trio[role] });
          get().setAlpha(1);
          set({ preset: { status: "idle" } });
        } catch (error) {
          set({ preset: { status: "failed", error: describeFailure(error) } });
        }
      },
    };
  };
