import { useState } from "react";
import { slotOf } from "../state/modelsSlice.ts";
import { draftSlots } from "../state/recipeDraft.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { secondaryButtonClass } from "./styles.ts";

/** The address bar always holds the recipe; this copies it and says what a link cannot carry. */
export function ShareLink() {
  const [copied, setCopied] = useState(false);
  const localFolders = useStudioStore((state) =>
    draftSlots(state)
      .flatMap((key) => {
        const slot = slotOf(state.models, key);
        return slot.status !== "empty" && slot.input.kind === "files" ? [`“${slot.input.label}”`] : [];
      })
      .join(" and "),
  );

  async function copy() {
    await navigator.clipboard.writeText(window.location.href);
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  }

  return (
    <div className="flex flex-wrap items-center gap-3 text-sm text-slate-500">
      <button type="button" className={secondaryButtonClass} onClick={() => void copy()}>
        {copied ? "Link copied" : "Copy link to this recipe"}
      </button>
      <span>
        The page's URL holds the models, the recipe and the settings, never the token.
        {localFolders && ` The local folder ${localFolders} cannot travel in a link: whoever opens it picks the folder again.`}
      </span>
    </div>
  );
}
