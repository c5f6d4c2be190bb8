import { useRef } from "react";
import type { FolderInput } from "../state/modelInput.ts";
import { secondaryButtonClass } from "./styles.ts";

/** Opens a local model folder through the browser's folder picker; nothing is uploaded. */
export function LocalFolderPicker({ roleLabel, onPick }: { roleLabel: string; onPick: (input: FolderInput) => void }) {
  const inputRef = useRef<HTMLInputElement>(null);

  return (
    <>
      <input
        ref={(input) => {
          inputRef.current = input;
          input?.setAttribute("webkitdirectory", "");
        }}
        type="file"
        multiple
        tabIndex={-1}
        aria-hidden="true"
        className="sr-only"
        onChange={(event) => {
          const files = [...(event.target.files ?? [])];
          event.target.value = "";
          if (files.length === 0) return;
          const label = files[0]!.webkitRelativePath.split("/")[0] || "local folder";
          onPick({ kind: "files", label, files });
        }}
      />
      <button type="button" className={secondaryButtonClass} aria-label={`Open a local folder as the ${roleLabel.toLowerCase()} model`} onClick={() => inputRef.current?.click()}>
        <svg aria-hidden="true" viewBox="0 0 20 20" className="size-4 fill-slate-500">
          <path d="M2 5.5A1.5 1.5 0 0 1 3.5 4h4l2 2h7A1.5 1.5 0 0 1 18 7.5v7a1.5 1.5 0 0 1-1.5 1.5h-13A1.5 1.5 0 0 1 2 14.5v-9Z" />
        </svg>
        Open local folder…
      </button>
    </>
  );
}
