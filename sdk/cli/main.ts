// The `kvcompress` command: `generate` (the main job), `eval` (quality under compression) and
// `info` (the adapter, and one kernel run as a smoke test).
import { KvCompressError } from "../../src/errors";
import { UsageError } from "../../src/eval/args";
import { CliUsageError } from "./args";
import { runGenerate } from "./generate";
import { runInfo } from "./info";

const HELP = `kvcompress — KV-Compress for every JavaScript runtime
usage:
  kvcompress generate --prompt TEXT [--model PATH|URL|ID] [--policy NAME] [--ratio R | --max-cache-tokens C] [--json] ...
  kvcompress eval --model PATH|ID --text FILE [--windows N] [--policies ...] [--ratios ...] [--json] [--out DIR] ...
  kvcompress info [--backend gpu|cpu]
  kvcompress vllm-args [--policy NAME] [--ratio R [--prompt-tokens P] | --max-cache-tokens C] [--json] ...
Run a command with --help for its flags; add --debug to any command for stack traces.
--model takes a directory, a URL, a short id (stories260K, tinystories-656K) or any hub id org/name
(org/name@REV for a branch, tag or commit).
Environment: KVCOMPRESS_MODELS (local models by id), KVCOMPRESS_HF_BASE (hub URL),
  KVCOMPRESS_STALL_MS (download stall timeout, default 60000), KVCOMPRESS_MAX_DOWNLOAD_BYTES (size cap).
Exit status: 0 ok, 2 usage error (nothing loaded), 1 any other error.`;

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
    case "vllm-args": await (await import("./vllmArgs")).runVllmArgs(rest, io); return 0;
    case undefined: case "help": case "--help": case "-h": io.out(HELP + "\n"); return command ? 0 : 2;
    default: throw new CliUsageError(`unknown command ${JSON.stringify(command)}\n${HELP}`);
  }
}

// `--debug` anywhere: print the stack of any error. Without it a user sees one line naming
// the error class and what it names, never a stack trace (issue 15).
const rawArgs = process.argv.slice(2);
const debug = rawArgs.includes("--debug");
try {
  process.exit(await main(rawArgs.filter((a) => a !== "--debug")));
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  const usageError = err instanceof CliUsageError || err instanceof UsageError;
  const name = err instanceof KvCompressError || e.name !== "Error" ? e.name : "error";
  io.err(`kvcompress: ${debug ? e.stack ?? `${name}: ${e.message}` : `${name}: ${e.message}`}\n`);
  if (!debug && !(err instanceof KvCompressError)) io.err("kvcompress: run with --debug for the stack trace\n");
  process.exit(usageError ? 2 : 1);
}
