import { create } from "zustand";
import { listModels } from "@huggingface/hub";

const DEFAULT_HUB_URL = "https://huggingface.co";
const MODEL_LIST_LIMIT = 100;

export interface HubModel {
  name: string;
  downloads: number;
  likes: number;
  updatedAt: Date;
}

export type ModelListState =
  | { status: "idle" }
  | { status: "loading"; hubUrl: string }
  | { status: "loaded"; hubUrl: string; models: HubModel[] }
  | { status: "failed"; hubUrl: string; error: string };

interface StudioState {
  hubUrl: string;
  modelList: ModelListState;
  setHubUrl: (hubUrl: string) => void;
  loadModels: () => Promise<void>;
}

function initialHubUrl(): string {
  const fromQuery = new URLSearchParams(window.location.search).get("hub");
  const fromEnv: string | undefined = import.meta.env.VITE_HUB_URL;
  return fromQuery || fromEnv || DEFAULT_HUB_URL;
}

function parseHubUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new Error(`“${input}” is not a valid URL, e.g. https://huggingface.co`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`The Hub URL must start with http:// or https://, not ${url.protocol}//`);
  }
  return url.href.replace(/\/+$/, "");
}

function describeFailure(hubUrl: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof TypeError) {
    return `Could not reach the Hub at ${hubUrl} (${reason}). Check the URL, and that the server is running and allows cross-origin requests.`;
  }
  return `Could not list the models of ${hubUrl}: ${reason}`;
}

let latestRequest = 0;

export const useStudioStore = create<StudioState>()((set, get) => ({
  hubUrl: initialHubUrl(),
  modelList: { status: "idle" },
  setHubUrl: (hubUrl) => set({ hubUrl }),
  loadModels: async () => {
    const request = ++latestRequest;
    const typed = get().hubUrl;
    let hubUrl: string;
    try {
      hubUrl = parseHubUrl(typed);
    } catch (error) {
      set({ modelList: { status: "failed", hubUrl: typed, error: (error as Error).message } });
      return;
    }
    set({ modelList: { status: "loading", hubUrl } });
    try {
      const models: HubModel[] = [];
      for await (const entry of listModels({ hubUrl, limit: MODEL_LIST_LIMIT, sort: "downloads" })) {
        models.push({ name: entry.name, downloads: entry.downloads, likes: entry.likes, updatedAt: entry.updatedAt });
      }
      if (request === latestRequest) set({ modelList: { status: "loaded", hubUrl, models } });
    } catch (error) {
      if (request === latestRequest) set({ modelList: { status: "failed", hubUrl, error: describeFailure(hubUrl, error) } });
    }
  },
}));
