import { discardMerge, downloadAsZip, saveToDirectory, startBrowserMerge } from "./browserMerge.ts";

/** End-to-end tests and the browser bench drive the merge API directly, on pages opened with ?e2e=1 only. */
if (new URLSearchParams(window.location.search).get("e2e") === "1") {
  Object.assign(window, { __mergeStudio: { startBrowserMerge, saveToDirectory, downloadAsZip, discardMerge } });
}
