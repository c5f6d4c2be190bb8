/**
 * A minimal protocol-buffers writer: varints, 32-bit floats and length-delimited fields.
 *
 * Hand-written rather than taken from a library: the npm package with the ONNX schema
 * (`onnx-proto` 8) is CommonJS on protobufjs 6 and generated for an old IR, and protobufjs itself
 * would need either its runtime .proto parser or a code-generation step for the ten messages we
 * write. A model proto here holds no weights (they are external data), so it stays small and a
 * plain growable byte buffer is enough.
 */
export class ProtobufWriter {
  private buffer = new Uint8Array(256);
  private length = 0;

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** A varint field (wire type 0): int32, int64, enum. Negative values are written as 64-bit two's complement. */
  varintField(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  /** A 32-bit float field (wire type 5). */
  floatField(field: number, value: number): this {
    this.tag(field, 5);
    this.reserve(4);
    new DataView(this.buffer.buffer).setFloat32(this.length, value, true);
    this.length += 4;
    return this;
  }

  /** A string field (wire type 2, UTF-8). */
  stringField(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  /** A bytes or embedded-message field (wire type 2). */
  bytesField(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.byteLength);
    this.reserve(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
    return this;
  }

  /** An embedded message written by `write` into a fresh writer. */
  messageField(field: number, write: (writer: ProtobufWriter) => void): this {
    const inner = new ProtobufWriter();
    write(inner);
    return this.bytesField(field, inner.finish());
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private varint(value: number | bigint): void {
    let rest = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    do {
      const low = Number(rest & 0x7fn);
      rest >>= 7n;
      this.buffer[this.length++] = rest === 0n ? low : low | 0x80;
    } while (rest !== 0n);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.byteLength) return;
    const grown = new Uint8Array(Math.max(this.buffer.byteLength * 2, this.length + bytes));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}
