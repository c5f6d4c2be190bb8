import packageJson from "../../package.json" with { type: "json" };

/** The tool version written into recipes and model cards. */
export const TOOL_VERSION: string = packageJson.version;
