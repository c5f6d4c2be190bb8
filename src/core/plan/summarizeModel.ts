import type { Dtype } from "../dtypes.ts";
import type { ModelInfo } from "../model/inspectModel.ts";

/** What a model card in the UI and the CLI report show about one model. */
export interface ModelSummary {
  label: string;
  revision: string | undefined;
  architecture: string;
  layers: number | undefined;
  hiddenSize: number | undefined;
  /** Rows of the input embedding matrix (the vocabulary the weights hold). */
  vocabRows: number | undefined;
  tieWordEmbeddings: boolean;
  parameterCount: number;
  weightBytes: number;
  /** Dtypes of the weights, most bytes first. */
  dtypes: Dtype[];
  shardCount: number;
}

export function summarizeModel(model: ModelInfo): ModelSummary {
  const { config } = model;
  const architectures = Array.isArray(config.architectures) ? config.architectures : [];
  const number = (value: unknown) => (typeof value === "number" ? value : undefined);
  const bytesPerDtype = new Map<Dtype, number>();
  let vocabRows: number | undefined;
  for (const tensor of model.tensors.values()) {
    bytesPerDtype.set(tensor.dtype, (bytesPerDtype.get(tensor.dtype) ?? 0) + tensor.byteLength);
    if (vocabRows === undefined && /(^|\.)embed_tokens\.weight$/.test(tensor.name)) vocabRows = tensor.shape[0];
  }
  return {
    label: model.source.label,
    revision: model.source.revision,
    architecture: [architectures[0], config.model_type].find((value): value is string => typeof value === "string") ?? "unknown",
    layers: number(config.num_hidden_layers),
    hiddenSize: number(config.hidden_size),
    vocabRows: vocabRows ?? number(config.vocab_size),
    // Config defaults differ by architecture when config.json omits the field; the weights then tell.
    tieWordEmbeddings:
      config.tie_word_embeddings === true ||
      (config.tie_word_embeddings === undefined && ![...model.tensors.keys()].some((name) => /(^|\.)lm_head\.weight$/.test(name))),
    parameterCount: model.parameterCount,
    weightBytes: model.weightBytes,
    dtypes: [...bytesPerDtype.entries()].sort((a, b) => b[1] - a[1]).map(([dtype]) => dtype),
    shardCount: model.weightFiles.length,
  };
}
