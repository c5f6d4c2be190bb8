import type { FolderInput } from "./modelInput.ts";

/**
 * The model folder dropped on a card. Only the folder's own files are taken: model repos keep
 * config.json, tokenizer and weights at the top, and dropped files carry no relative path, so
 * nested files could only be named by their base name and might shadow the top-level ones.
 * Dropping loose files takes them as the folder's contents.
 */
export async function readDroppedFolder(transfer: DataTransfer): Promise<FolderInput> {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry()).filter((entry) => entry !== null);
  const folders = entries.filter((entry): entry is FileSystemDirectoryEntry => entry.isDirectory);
  if (folders.length > 1) throw new Error("Drop one model folder per card.");
  if (folders.length === 1) {
    const folder = folders[0]!;
    const children = await readAllEntries(folder.createReader());
    const files = await Promise.all(children.filter((entry): entry is FileSystemFileEntry => entry.isFile).map(fileOf));
    if (files.length === 0) throw new Error(`The folder “${folder.name}” holds no files.`);
    return { kind: "files", label: folder.name, files };
  }
  const files = [...transfer.files];
  if (files.length === 0) throw new Error("Nothing to open: drop a model folder.");
  return { kind: "files", label: "dropped files", files };
}

async function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  const all: FileSystemEntry[] = [];
  // readEntries answers in batches (100 in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}
