import {
  encodeOnnxModel,
  OnnxDataType,
  type ExternalDataLocation,
  type OnnxAttributeValue,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from "./encodeOnnxModel.ts";

/** Bytes of one element of each data type an initializer may have. */
const ELEMENT_BYTES: Record<OnnxDataType, number> = {
  [OnnxDataType.FLOAT]: 4,
  [OnnxDataType.UINT8]: 1,
  [OnnxDataType.INT8]: 1,
  [OnnxDataType.INT32]: 4,
  [OnnxDataType.INT64]: 8,
  [OnnxDataType.BOOL]: 1,
  [OnnxDataType.FLOAT16]: 2,
};

/** One external data file, held in memory: what `externalData: [{ path, data }]` takes. */
export interface ExternalDataFile {
  path: string;
  data: Uint8Array;
}

/** A weight's name, element type and shape. */
export interface WeightSpec {
  name: string;
  dataType: OnnxDataType;
  dims: readonly number[];
}

/** Weights produced together from the same source tensors (e.g. codes, scales and zero points of one quantised matrix). */
interface WeightGroup {
  specs: WeightSpec[];
  write: (into: Uint8Array[]) => Promise<void>;
}

type ExternalTensor = OnnxTensor & { data: { external: ExternalDataLocation } };

/** Start offsets of initializers in external data are multiples of this (cache line, and any element width). */
const EXTERNAL_DATA_ALIGNMENT = 64;

export interface BuiltOnnxModel {
  /** The serialised ModelProto: graph and small constants, no weights. */
  model: Uint8Array;
  externalData: ExternalDataFile[];
}

/** An external data file of the layout: its name (the tensors' `location`) and size in bytes. */
export interface ExternalDataFileLayout {
  path: string;
  size: number;
}

/**
 * Where `finishInto` puts the weights. For each weight group in turn it asks `buffers` for one
 * buffer per weight (exactly the weight's length), lets the group fill them, then hands them to
 * `store`; a group's buffers are not used after its `store`.
 */
export interface ExternalDataWriter {
  /** Called once, before any weight, with every file of the layout. */
  create(files: readonly ExternalDataFileLayout[]): Promise<void>;
  buffers(locations: readonly ExternalDataLocation[]): Uint8Array[];
  store(locations: readonly ExternalDataLocation[], buffers: readonly Uint8Array[]): Promise<void>;
}

/** Writes the weights into files held in memory, each weight in place: nothing is copied. */
class InMemoryExternalData implements ExternalDataWriter {
  readonly files: ExternalDataFile[] = [];

  async create(files: readonly ExternalDataFileLayout[]): Promise<void> {
    this.files.push(...files.map(({ path, size }) => ({ path, data: new Uint8Array(size) })));
  }

  buffers(locations: readonly ExternalDataLocation[]): Uint8Array[] {
    return locations.map(({ location, offset, length }) => this.files.find((file) => file.path === location)!.data.subarray(offset, offset + length));
  }

  async store(): Promise<void> {}
}

export interface FinishOptions {
  /** Largest external data file in bytes (each file is one ArrayBuffer: keep it under the browser's 2 GB limit). */
  maxFileBytes: number;
  /** Prefix of the external data file names. */
  filePrefix: string;
  signal?: AbortSignal;
  /** Called after each weight is written, with bytes written so far and in all. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/**
 * Collects nodes, graph inputs and outputs, small inline constants and large weights, then lays the
 * weights out in external data files and serialises the model. Weights are produced by callbacks
 * only once their files exist, so each weight's source tensors are read, converted and dropped one
 * at a time: peak memory is the files plus one weight when the files are held in memory (`finish`),
 * one weight group when a writer stores each group elsewhere (`finishInto`, e.g. files on disk).
 */
export class OnnxGraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly constants = new Map<string, OnnxTensor>();
  private readonly weightGroups: WeightGroup[] = [];
  private nextValueId = 0;

  constructor(
    private readonly opsetImports: ReadonlyArray<{ domain: string; version: number }>,
    private readonly irVersion: number,
  ) {}

  input(name: string, elemType: OnnxDataType, shape: ReadonlyArray<number | string>): string {
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  /** Declares a graph output; `value` is renamed to `name` with an Identity unless it already is. */
  output(value: string, name: string, elemType: OnnxDataType, shape: ReadonlyArray<number | string>): void {
    if (value !== name) this.nodes.push({ opType: "Identity", inputs: [value], outputs: [name] });
    this.outputs.push({ name, elemType, shape });
  }

  /** Adds a node with one output and returns that output's name (`as` names it, else a fresh name). */
  op(opType: string, inputs: readonly string[], attributes?: Record<string, OnnxAttributeValue>, options?: { domain?: string; as?: string }): string {
    const output = options?.as ?? this.freshName(opType);
    this.nodes.push({ opType, domain: options?.domain, inputs, outputs: [output], attributes });
    return output;
  }

  /** Adds a node with `count` outputs and returns their names. */
  opMulti(opType: string, inputs: readonly string[], count: number, attributes?: Record<string, OnnxAttributeValue>): string[] {
    const outputs = Array.from({ length: count }, () => this.freshName(opType));
    this.nodes.push({ opType, inputs, outputs, attributes });
    return outputs;
  }

  /** An inline int64 constant (deduplicated): shapes, axes, split sizes. `dims` undefined: a 1-D tensor. */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const raw = new Uint8Array(new BigInt64Array(values.map((value) => BigInt(value))).buffer);
    return this.constant(OnnxDataType.INT64, dims, raw);
  }

  /** An inline float32 constant (deduplicated). */
  float32(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length]): string {
    return this.constant(OnnxDataType.FLOAT, dims, new Uint8Array(Float32Array.from(values).buffer));
  }

  /** An inline uint8 constant (deduplicated): zero points. */
  uint8(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant(OnnxDataType.UINT8, dims, Uint8Array.from(values));
  }

  /** A weight stored as external data; `write` fills its bytes (exactly dims x element size) once the files exist. */
  weight(name: string, dataType: OnnxDataType, dims: readonly number[], write: (into: Uint8Array) => Promise<void>): string {
    this.weightGroup([{ name, dataType, dims }], async ([into]) => write(into!));
    return name;
  }

  /** Several weights filled by one call, in the order of `specs`. */
  weightGroup(specs: WeightSpec[], write: (into: Uint8Array[]) => Promise<void>): void {
    this.weightGroups.push({ specs, write });
  }

  /** Lays out the weights in files of at most `maxFileBytes` held in memory, fills them in order, and serialises the model. */
  async finish(graphName: string, options: FinishOptions): Promise<BuiltOnnxModel> {
    const files = new InMemoryExternalData();
    const model = await this.finishInto(graphName, options, files);
    return { model, externalData: files.files };
  }

  /**
   * Lays out the weights in files of at most `maxFileBytes`, has `writer` create them, produces the
   * weights group by group into the writer's buffers and has it store each group; returns the
   * serialised model (whose tensors name the files as their `location`).
   */
  async finishInto(graphName: string, options: FinishOptions, writer: ExternalDataWriter): Promise<Uint8Array> {
    const fileSizes: number[] = [];
    const fileName = (index: number) => `${options.filePrefix}${String(index).padStart(3, "0")}.bin`;
    const place = (spec: WeightSpec): ExternalTensor => {
      const length = spec.dims.reduce((product, dim) => product * dim, ELEMENT_BYTES[spec.dataType]);
      if (length > options.maxFileBytes) {
        throw new Error(`weight ${spec.name} has ${length} bytes, more than the largest external data file (${options.maxFileBytes} bytes)`);
      }
      let index = fileSizes.length - 1;
      let offset = index < 0 ? 0 : alignUp(fileSizes[index]!, EXTERNAL_DATA_ALIGNMENT);
      if (index < 0 || offset + length > options.maxFileBytes) {
        index = fileSizes.length;
        offset = 0;
        fileSizes.push(0);
      }
      fileSizes[index] = offset + length;
      return { name: spec.name, dataType: spec.dataType, dims: spec.dims, data: { external: { location: fileName(index), offset, length } } };
    };
    const placed = this.weightGroups.map((group) => ({ tensors: group.specs.map(place), write: group.write }));
    await writer.create(fileSizes.map((size, index) => ({ path: fileName(index), size })));
    const totalBytes = fileSizes.reduce((sum, size) => sum + size, 0);
    let doneBytes = 0;
    for (const { tensors, write } of placed) {
      options.signal?.throwIfAborted();
      const locations = tensors.map((tensor) => tensor.data.external);
      const buffers = writer.buffers(locations);
      await write(buffers);
      await writer.store(locations, buffers);
      for (const location of locations) doneBytes += location.length;
      options.onProgress?.(doneBytes, totalBytes);
    }
    return encodeOnnxModel({
      irVersion: this.irVersion,
      opsetImports: this.opsetImports,
      producerName: "merge-studio",
      producerVersion: "1",
      graph: {
        name: graphName,
        nodes: this.nodes,
        initializers: [...this.constants.values(), ...placed.flatMap((group) => group.tensors)],
        inputs: this.inputs,
        outputs: this.outputs,
      },
    });
  }

  private constant(dataType: OnnxDataType, dims: readonly number[], raw: Uint8Array): string {
    const key = `${dataType}|${dims.join(",")}|${Array.from(raw).join(",")}`;
    const existing = this.constants.get(key);
    if (existing) return existing.name;
    const name = `const_${this.constants.size}`;
    this.constants.set(key, { name, dataType, dims, data: { raw } });
    return name;
  }

  private freshName(opType: string): string {
    return `${opType.toLowerCase()}_${this.nextValueId++}`;
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
