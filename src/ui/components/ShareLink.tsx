import { useState } from "react";
import { ROLES } from "../state/recipeLink.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { secondaryButtonClass } from "./styles.ts";

/** The address bar always holds the recipe; this copies it and says what a link cannot carry. */
export function ShareLink() {
  const [copied, setCopied] = useState(false);
  const localRoles = useStudioStore((state) =>
    ROLES.filter((role) => {
      const slot = state.models[role];
      return slot.status !== "empty" && slot.input.kind === "files";
    }).join(" and "),
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
        The page's URL holds the models, α and settings, never the token.
        {localRoles && ` The local ${localRoles} folder cannot travel in a link.`}
      </span>
    </div>
  );
}
