import { ProtobufWriter } from "./ProtobufWriter.ts";

/** TensorProto.DataType values used here (onnx.proto). */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
} as const;
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** Where an initializer's bytes lie in an external data file (TensorProto.external_data). */
export interface ExternalDataLocation {
  location: string;
  offset: number;
  length: number;
}

/** An initializer: its bytes either inline (raw_data) or in an external data file. */
export interface OnnxTensor {
  name: string;
  dataType: OnnxDataType;
  dims: readonly number[];
  data: { raw: Uint8Array } | { external: ExternalDataLocation };
}

export type OnnxAttributeValue =
  | { type: "int"; value: number }
  | { type: "ints"; value: readonly number[] }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "tensor"; value: OnnxTensor };

export interface OnnxNode {
  opType: string;
  /** "" (or absent) for the default ONNX domain, "com.microsoft" for onnxruntime's contrib ops. */
  domain?: string;
  name?: string;
  /** Input value names; "" marks an omitted optional input. */
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

/** A graph input or output: element type and shape, each dimension a size or a symbolic name. */
export interface OnnxValueInfo {
  name: string;
  elemType: OnnxDataType;
  shape: ReadonlyArray<number | string>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: ReadonlyArray<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  metadata?: Readonly<Record<string, string>>;
}

/** AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, ints: 7 } as const;

/** Serialises a ModelProto (field numbers of onnx/onnx.proto). */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const writer = new ProtobufWriter();
  writer.varintField(1, model.irVersion);
  writer.stringField(2, model.producerName);
  writer.stringField(3, model.producerVersion);
  writer.messageField(7, (graph) => writeGraph(graph, model.graph));
  for (const opset of model.opsetImports) {
    writer.messageField(8, (entry) => {
      entry.stringField(1, opset.domain);
      entry.varintField(2, opset.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) writeStringEntry(writer, 14, key, value);
  return writer.finish();
}

function writeGraph(writer: ProtobufWriter, graph: OnnxGraph): void {
  for (const node of graph.nodes) writer.messageField(1, (message) => writeNode(message, node));
  writer.stringField(2, graph.name);
  for (const tensor of graph.initializers) writer.messageField(5, (message) => writeTensor(message, tensor));
  for (const input of graph.inputs) writer.messageField(11, (message) => writeValueInfo(message, input));
  for (const output of graph.outputs) writer.messageField(12, (message) => writeValueInfo(message, output));
}

function writeNode(writer: ProtobufWriter, node: OnnxNode): void {
  for (const input of node.inputs) writer.stringField(1, input);
  for (const output of node.outputs) writer.stringField(2, output);
  if (node.name) writer.stringField(3, node.name);
  writer.stringField(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    writer.messageField(5, (message) => writeAttribute(message, name, attribute));
  }
  if (node.domain) writer.stringField(7, node.domain);
}

function writeAttribute(writer: ProtobufWriter, name: string, attribute: OnnxAttributeValue): void {
  writer.stringField(1, name);
  switch (attribute.type) {
    case "float":
      writer.floatField(2, attribute.value);
      break;
    case "int":
      writer.varintField(3, attribute.value);
      break;
    case "string":
      writer.stringField(4, attribute.value);
      break;
    case "tensor":
      writer.messageField(5, (message) => writeTensor(message, attribute.value));
      break;
    case "ints":
      for (const value of attribute.value) writer.varintField(8, value);
      break;
  }
  writer.varintField(20, ATTRIBUTE_TYPE[attribute.type]);
}

function writeTensor(writer: ProtobufWriter, tensor: OnnxTensor): void {
  for (const dim of tensor.dims) writer.varintField(1, dim);
  writer.varintField(2, tensor.dataType);
  writer.stringField(8, tensor.name);
  if ("raw" in tensor.data) {
    writer.bytesField(9, tensor.data.raw);
    return;
  }
  const { location, offset, length } = tensor.data.external;
  writeStringEntry(writer, 13, "location", location);
  writeStringEntry(writer, 13, "offset", String(offset));
  writeStringEntry(writer, 13, "length", String(length));
  writer.varintField(14, 1); // DataLocation.EXTERNAL
}

function writeValueInfo(writer: ProtobufWriter, value: OnnxValueInfo): void {
  writer.stringField(1, value.name);
  writer.messageField(2, (type) =>
    type.messageField(1, (tensorType) => {
      tensorType.varintField(1, value.elemType);
      tensorType.messageField(2, (shape) => {
        for (const dim of value.shape) {
          shape.messageField(1, (dimension) => (typeof dim === "number" ? dimension.varintField(1, dim) : dimension.stringField(2, dim)));
        }
      });
    }),
  );
}

function writeStringEntry(writer: ProtobufWriter, field: number, key: string, value: string): void {
  writer.messageField(field, (entry) => {
    entry.stringField(1, key);
    entry.stringField(2, value);
  });
}
