import type { StateCreator } from "zustand";
import { defaultRecipeParameters, type MergeRecipe, type RandomSignControl, type RecipeParameters, type Setting, type VectorSettingName } from "../../core/recipe/MergeRecipe.ts";
import { METHOD_STEPS, type RecipeMethodId } from "../../core/recipe/TensorRecipe.ts";
import { hubInput, EMPTY_SLOT, type LinkRecipe } from "./recipeLink.ts";
import { DEFAULT_WEIGHT, methodUsesSetting, minusSlot, plusSlot, recipeToDraft, type RecipeDraft, type SlotKey, type VectorDraft } from "./recipeDraft.ts";
import type { StudioState } from "./studioStore.ts";

/** The fields of the recipe's seeds, as fieldProblems names them. */
export const SEED_FIELD = "seed-input";
export const CONTROL_SEED_FIELD = "control-seed-input";

let vectorCount = 0;
/** A fresh vector id: vectors keep theirs (and their model slots) when they are reordered. */
export const newVectorId = (): string => String(vectorCount++);

/** The parameters a user sets directly (the default settings of the vectors are the recipe's `parameters` too). */
export type ParameterChange = Partial<Pick<RecipeParameters, "normalize" | "rescale" | "seed" | "density" | "gamma">>;

export interface RecipeSlice extends RecipeDraft {
  vocab: MergeRecipe["vocab"];
  /** Fields whose text is not a value yet ("abc" for a weight, an empty gradient): field -> what is wrong. */
  fieldProblems: Record<string, string>;
  /** What in the opened link could not be used. */
  linkProblems: string[];
  /** Changes the method; normalize takes the new method's default (mergekit's: true for ties only). */
  setMethod: (method: RecipeMethodId) => void;
  setParameters: (change: ParameterChange) => void;
  addVector: () => void;
  removeVector: (id: string) => void;
  /** Moves a vector up (-1) or down (+1) in the recipe order. */
  moveVector: (id: string, offset: -1 | 1) => void;
  /** Sets one of a vector's settings; undefined: the recipe's default. */
  setVectorSetting: (id: string, name: VectorSettingName, setting: Setting | undefined) => void;
  setControl: (control: RandomSignControl | undefined) => void;
  setVocab: (vocab: MergeRecipe["vocab"]) => void;
  setFieldProblem: (field: string, problem: string | undefined) => void;
  /** Back to one task_arithmetic vector of weight 1 (its slots kept when it was the first); returns its id. */
  resetToOneVector: () => string;
  /**
   * Replaces the recipe and its models with `recipe` (a link's or an imported mergekit YAML's): Hub
   * ids are picked and inspected; EMPTY_SLOT and other specs (a local folder's name) leave the
   * slot empty. Returns what could not be used (the folders to pick again).
   */
  loadRecipe: (recipe: MergeRecipe) => string[];
}

export function initialRecipe(link: LinkRecipe, firstVectorId: string): Pick<RecipeSlice, keyof RecipeDraft | "vocab" | "fieldProblems" | "linkProblems"> {
  return {
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    vectors: [{ id: firstVectorId, weight: link.alpha ?? DEFAULT_WEIGHT }],
    vocab: link.vocab ?? "exact",
    fieldProblems: {},
    linkProblems: link.problems,
  };
}

export const createRecipeSlice =
  (link: LinkRecipe, firstVectorId: string): StateCreator<StudioState, [], [], RecipeSlice> =>
  (set, get) => {
    /** Applies a change of the recipe; a finished merge of the old recipe is discarded. */
    const change = (update: Partial<RecipeSlice>) => {
      set(update);
      get().discardMergeResult();
    };
    const updateVector = (id: string, update: (vector: VectorDraft) => VectorDraft) => change({ vectors: get().vectors.map((vector) => (vector.id === id ? update(vector) : vector)) });

    return {
      ...initialRecipe(link, firstVectorId),

      setMethod: (method) => {
        // Problems of fields the new method does not show are no longer the user's to fix.
        const shown = (field: string) =>
          (!field.endsWith(".density") || methodUsesSetting(method, "density")) &&
          (!field.endsWith(".gamma") || methodUsesSetting(method, "gamma")) &&
          (field !== SEED_FIELD || METHOD_STEPS[method].sparsification === "random");
        const fieldProblems = Object.fromEntries(Object.entries(get().fieldProblems).filter(([field]) => shown(field)));
        change({ method, parameters: { ...get().parameters, normalize: defaultRecipeParameters(method).normalize }, fieldProblems });
      },
      setParameters: (update) => change({ parameters: { ...get().parameters, ...update } }),

      addVector: () => change({ vectors: [...get().vectors, { id: newVectorId(), weight: DEFAULT_WEIGHT }] }),

      removeVector: (id) => {
        const { vectors } = get();
        if (vectors.length <= 1) return;
        const fieldProblems = Object.fromEntries(Object.entries(get().fieldProblems).filter(([field]) => !field.startsWith(`${id}.`)));
        change({ vectors: vectors.filter((vector) => vector.id !== id), fieldProblems });
        get().dropSlots([plusSlot(id), minusSlot(id)]);
      },

      moveVector: (id, offset) => {
        const vectors = [...get().vectors];
        const from = vectors.findIndex((vector) => vector.id === id);
        const to = from + offset;
        if (from < 0 || to < 0 || to >= vectors.length) return;
        [vectors[from], vectors[to]] = [vectors[to]!, vectors[from]!];
        change({ vectors });
      },

      setVectorSetting: (id, name, setting) =>
        updateVector(id, (vector) => {
          if (name === "weight") return setting === undefined ? vector : { ...vector, weight: setting };
          const rest = { ...vector };
          delete rest[name];
          return setting === undefined ? rest : { ...rest, [name]: setting };
        }),

      setControl: (control) => {
        if (control) return change({ control });
        const fieldProblems = { ...get().fieldProblems };
        delete fieldProblems[CONTROL_SEED_FIELD];
        change({ control: undefined, fieldProblems });
      },
      setVocab: (vocab) => change({ vocab }),

      setFieldProblem: (field, problem) => {
        const { [field]: old, ...others } = get().fieldProblems;
        if (old === problem) return;
        set({ fieldProblems: problem === undefined ? others : { ...others, [field]: problem } });
      },

      resetToOneVector: () => {
        const [first, ...others] = get().vectors;
        const id = first?.id ?? newVectorId();
        get().dropSlots(others.flatMap((vector) => [plusSlot(vector.id), minusSlot(vector.id)]));
        change({ method: "task_arithmetic", parameters: defaultRecipeParameters("task_arithmetic"), vectors: [{ id, weight: DEFAULT_WEIGHT }], control: undefined, fieldProblems: {} });
        return id;
      },

      loadRecipe: (recipe) => {
        const state = get();
        state.dropSlots(Object.keys(state.models) as SlotKey[]);
        const draft = recipeToDraft(recipe, newVectorId);
        change({ ...draft, control: draft.control, vocab: recipe.vocab, fieldProblems: {} });
        get().setOutDtype(recipe.out_dtype ?? "target");
        const problems: string[] = [];
        const pick = (slot: SlotKey, spec: string, field: string) => {
          if (spec === EMPTY_SLOT) return;
          try {
            get().pickModel(slot, hubInput(spec));
          } catch {
            problems.push(`${field} “${spec}” is a local folder, which cannot travel: pick it again.`);
          }
        };
        pick("target", recipe.target, "target");
        recipe.vectors.forEach((vector, index) => {
          const id = draft.vectors[index]!.id;
          pick(plusSlot(id), vector.plus, `vectors[${index}].plus`);
          pick(minusSlot(id), vector.minus, `vectors[${index}].minus`);
        });
        return problems;
      },
    };
  };
