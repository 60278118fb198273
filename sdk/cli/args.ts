// A small flag parser for the CLI: `--name value`, `--name=value`, boolean `--flag`. Unknown
// flags and bad values are UsageErrors that name the flag and what it takes.
import { KvCompressError } from "../../src/errors";

/** Wrong command-line usage; the CLI prints the message and exits with status 2. */
export class CliUsageError extends KvCompressError {}

export interface FlagSpec {
  readonly type: "string" | "number" | "int" | "boolean";
  readonly help: string;
}

export function parseFlags<T extends Record<string, FlagSpec>>(argv: readonly string[], spec: T): { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : T[K]["type"] extends "string" ? string : number } {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new CliUsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const s = spec[name];
    if (!s) throw new CliUsageError(`unknown flag --${name}; flags: ${Object.keys(spec).map((k) => "--" + k).join(" ")}`);
    if (s.type === "boolean") {
      out[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new CliUsageError(`--${name} needs a value (${s.help})`);
    if (s.type === "string") out[name] = raw;
    else {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n) || (s.type === "int" && !Number.isInteger(n))) throw new CliUsageError(`--${name} must be ${s.type === "int" ? "an integer" : "a number"}, got ${JSON.stringify(raw)} (${s.help})`);
      out[name] = n;
    }
  }
  return out as ReturnType<typeof parseFlags<T>>;
}

export function usage(command: string, spec: Record<string, FlagSpec>): string {
  const lines = Object.entries(spec).map(([k, s]) => `  --${k}${s.type === "boolean" ? "" : " <" + s.type + ">"}`.padEnd(30) + s.help);
  return `usage: kvcompress ${command} [flags]\n${lines.join("\n")}`;
}
