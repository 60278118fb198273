// Flags of `generate` and `info`, parsed by `node:util` parseArgs (Node, Deno and Bun all ship
// it) so `--name value`, `--name=value` and the ambiguity rules are the platform's, not ours.
// Every failure is a CliUsageError naming the flag; the CLI prints it and exits 2.
import { parseArgs } from "node:util";
import { KvCompressError } from "../../src/errors";

/** Wrong command-line usage; the CLI prints the message and exits with status 2. */
export class CliUsageError extends KvCompressError {}

export interface FlagSpec {
  readonly type: "string" | "number" | "int" | "boolean";
  readonly help: string;
}

type Parsed<T extends Record<string, FlagSpec>> = { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : T[K]["type"] extends "string" ? string : number };

/** A plain decimal (or exponent) number: Number("") is 0 and Number("0x10") is 16, neither is meant. */
const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseFlags<T extends Record<string, FlagSpec>>(argv: readonly string[], spec: T): Parsed<T> {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.type === "boolean" ? "boolean" : "string" };
  // `--temperature -1`: parseArgs (strict) refuses a value that looks like a flag. Numbers are
  // never flags here, so join them to their flag first; `--temperature=-1` then reaches the
  // range check below and gets a message about the range, not about dashes.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith("--") && !argv[i].includes("=") ? argv[i].slice(2) : "";
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (s && s.type !== "boolean" && i + 1 < argv.length && NUMBER_RE.test(argv[i + 1])) {
      args.push(`${argv[i]}=${argv[++i]}`);
    } else args.push(argv[i]);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new CliUsageError(usageMessage(err as Error, spec));
  }
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(values)) {
    const s = spec[name];
    if (s.type === "boolean" || s.type === "string") {
      // An empty prompt is meaningful (generate from BOS alone); an empty path or name is not.
      if (s.type === "string" && raw === "" && name !== "prompt") throw new CliUsageError(`--${name} needs a non-empty value (${s.help})`);
      out[name] = raw;
      continue;
    }
    const text = String(raw);
    const n = NUMBER_RE.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isFinite(n) || (s.type === "int" && !Number.isSafeInteger(n))) {
      throw new CliUsageError(`--${name} must be ${s.type === "int" ? "an integer" : "a finite number"}, got ${JSON.stringify(text)} (${s.help})`);
    }
    out[name] = n;
  }
  return out as Parsed<T>;
}

/** parseArgs' own messages name the flag but not what it takes; add the help line. */
function usageMessage(err: Error, spec: Record<string, FlagSpec>): string {
  const code = (err as { code?: string }).code;
  const flag = /'(--?[^' ]+)/.exec(err.message)?.[1] ?? "";
  const name = flag.replace(/^-+/, "");
  const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag ${flag}; flags: ${Object.keys(spec).map((k) => "--" + k).join(" ")}`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ""}; every value follows its --flag`;
  if (s?.type === "boolean") return `${flag} takes no value (write ${flag} to turn it on, leave it out to keep it off)`;
  if (s) return `${flag} needs a value (${s.help})`;
  return err.message;
}

export function usage(command: string, spec: Record<string, FlagSpec>): string {
  const lines = Object.entries(spec).map(([k, s]) => `  --${k}${s.type === "boolean" ? "" : " <" + s.type + ">"}`.padEnd(30) + s.help);
  return `usage: kvcompress ${command} [flags]\n${lines.join("\n")}`;
}
