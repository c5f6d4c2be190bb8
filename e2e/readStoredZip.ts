/**
 * Reads a zip whose entries are all stored (no compression), as client-zip writes them, including
 * Zip64 sizes and offsets: the entries' names and bytes, from the central directory.
 */
export function readStoredZip(zip: Buffer): Map<string, Buffer> {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error("no end of central directory record");
  let count = zip.readUInt16LE(eocd + 10);
  let directory = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || directory === 0xffffffff) {
    const zip64 = Number(zip.readBigUInt64LE(eocd - 20 + 8));
    if (zip.readUInt32LE(zip64) !== 0x06064b50) throw new Error("bad Zip64 end of central directory record");
    count = Number(zip.readBigUInt64LE(zip64 + 32));
    directory = Number(zip.readBigUInt64LE(zip64 + 48));
  }
  const entries = new Map<string, Buffer>();
  let at = directory;
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory header ${i}`);
    const method = zip.readUInt16LE(at + 10);
    let size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    let local = zip.readUInt32LE(at + 42);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    const uncompressed = zip.readUInt32LE(at + 24);
    for (let extra = at + 46 + nameLength; extra < at + 46 + nameLength + extraLength; ) {
      const id = zip.readUInt16LE(extra);
      const length = zip.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        const next = () => Number(zip.readBigUInt64LE((field += 8) - 8));
        if (uncompressed === 0xffffffff) next();
        if (size === 0xffffffff) size = next();
        if (local === 0xffffffff) local = next();
      }
      extra += 4 + length;
    }
    if (method !== 0) throw new Error(`${name}: compression method ${method}, expected 0 (stored)`);
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`${name}: bad local header`);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    entries.set(name, zip.subarray(data, data + size));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
