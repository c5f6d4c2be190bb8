import type { StateCreator } from "zustand";
import type { FloatDtype } from "../../core/dtypes.ts";
import type { BackendChoice } from "../../core/engine/createBackendComputer.ts";
import { parseByteSize } from "../../core/safetensors/planShards.ts";
import { initialHubUrl, normalizeHubUrl } from "./hubUrl.ts";
import type { LinkRecipe } from "./recipeLink.ts";
import type { StudioState } from "./studioStore.ts";

export const DEFAULT_SHARD_SIZE = "5GB";
const TOKEN_STORAGE_KEY = "merge-studio:hub-token";

/** "target": each tensor keeps the target's dtype. */
export type OutDtypeChoice = FloatDtype | "target";

export interface SettingsSlice {
  hubUrl: string;
  accessToken: string;
  rememberToken: boolean;
  outDtype: OutDtypeChoice;
  shardSizeText: string;
  /** Where the merge computes: "auto" (the GPU when it is not slower), or forced to the GPU or the CPU. */
  backend: BackendChoice;
  /** Validates and applies a Hub URL; models picked from the Hub are read again from the new one. */
  setHubUrl: (text: string) => void;
  setAccessToken: (token: string) => void;
  setRememberToken: (remember: boolean) => void;
  setOutDtype: (dtype: OutDtypeChoice) => void;
  setShardSizeText: (text: string) => void;
  setBackend: (backend: BackendChoice) => void;
}

function storedToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_STORAGE_KEY) ?? "";
  } catch {
    return "";
  }
}

function storeToken(token: string, remember: boolean): void {
  try {
    if (remember && token) sessionStorage.setItem(TOKEN_STORAGE_KEY, token);
    else sessionStorage.removeItem(TOKEN_STORAGE_KEY);
  } catch {
    // Storage can be disabled; the token then lives in memory only, which is the default anyway.
  }
}

export function initialSettings(link: LinkRecipe) {
  const token = storedToken();
  return {
    hubUrl: initialHubUrl(window.location.search),
    accessToken: token,
    rememberToken: token !== "",
    outDtype: link.outDtype ?? "target",
    shardSizeText: link.shardSize ?? DEFAULT_SHARD_SIZE,
    backend: link.backend ?? "auto",
  } satisfies Partial<SettingsSlice>;
}

export const createSettingsSlice =
  (link: LinkRecipe): StateCreator<StudioState, [], [], SettingsSlice> =>
  (set, get) => ({
    ...initialSettings(link),
    setHubUrl: (text) => {
      const hubUrl = normalizeHubUrl(text);
      if (hubUrl === get().hubUrl) return;
      set({ hubUrl });
      get().discardMergeResult();
      get().reinspectHubModels();
    },
    setAccessToken: (accessToken) => {
      set({ accessToken });
      storeToken(accessToken, get().rememberToken);
    },
    setRememberToken: (rememberToken) => {
      set({ rememberToken });
      storeToken(get().accessToken, rememberToken);
    },
    setOutDtype: (outDtype) => {
      set({ outDtype });
      get().discardMergeResult();
    },
    setShardSizeText: (shardSizeText) => {
      set({ shardSizeText });
      get().discardMergeResult();
    },
    // Every backend writes the same bytes, so a finished merge stays valid.
    setBackend: (backend) => set({ backend }),
  });

/** Why the token cannot be used, if it cannot; openHubSource refuses anything not starting with hf_. */
export function tokenProblem(token: string): string | undefined {
  if (token === "" || token.startsWith("hf_")) return undefined;
  return "A Hugging Face access token starts with “hf_”.";
}

/** The token to send to the Hub: none when empty or malformed. */
export function usableToken(state: Pick<SettingsSlice, "accessToken">): string | undefined {
  return state.accessToken && !tokenProblem(state.accessToken) ? state.accessToken : undefined;
}

export function shardSizeBytes(text: string): { bytes: number } | { error: string } {
  try {
    return { bytes: parseByteSize(text) };
  } catch (error) {
    return { error: `Shard size: ${(error as Error).message}.` };
  }
}
