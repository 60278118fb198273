// The `kvcompress` command: `generate` (the main job), `eval` (quality under compression) and
// `info` (the adapter, and one kernel run as a smoke test).
import { KvCompressError } from "../../src/errors";
import { CliUsageError } from "./args";
import { runGenerate } from "./generate";
import { runInfo } from "./info";

const HELP = `kvcompress — KV-Compress for every JavaScript runtime
usage:
  kvcompress generate --prompt TEXT [--model PATH|URL|ID] [--policy NAME] [--ratio R | --max-cache-tokens C] [--json] ...
  kvcompress eval --model PATH|ID --text FILE [--windows N] [--policies ...] [--ratios ...] [--json] [--out DIR] ...
  kvcompress info [--backend gpu|cpu]
Run a command with --help for its flags.`;

const io = {
  out: (s: string) => void process.stdout.write(s),
  err: (s: string) => void process.stderr.write(s),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "generate": await runGenerate(rest, io); return 0;
    case "eval": {
      const { runEvalCommand } = await import("./eval");
      await runEvalCommand(rest, io);
      return 0;
    }
    case "info": await runInfo(rest, io); return 0;
    case undefined: case "help": case "--help": case "-h": io.out(HELP + "\n"); return command ? 0 : 2;
    default: throw new CliUsageError(`unknown command ${JSON.stringify(command)}\n${HELP}`);
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (err) {
  const e = err as Error;
  const known = err instanceof KvCompressError || e?.name?.endsWith("Error") && e.name !== "Error" && e.name !== "TypeError";
  io.err(`kvcompress: ${known ? `${e.name}: ${e.message}` : e?.stack ?? String(err)}\n`);
  process.exit(err instanceof CliUsageError ? 2 : 1);
}
