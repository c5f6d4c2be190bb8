import { UsageError } from "./format.ts";
import { demoCommand, DEMO_USAGE } from "./demoCommand.ts";
import { hubCommand, HUB_USAGE } from "./hubCommand.ts";
import { mergeCommand, MERGE_USAGE } from "./mergeCommand.ts";

const commands: Record<string, { run: (args: string[]) => Promise<void>; usage: string }> = {
  merge: { run: mergeCommand, usage: MERGE_USAGE },
  hub: { run: hubCommand, usage: HUB_USAGE },
  demo: { run: demoCommand, usage: DEMO_USAGE },
};

const usage = `usage: merge-studio <command> [options]\n\n${Object.values(commands).map((command) => command.usage).join("\n\n")}\n`;

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`error: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  try {
    await command.run(args);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const usageError = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`error: ${message}\n${usageError ? `\nusage: ${command.usage}\n` : ""}`);
    return usageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
