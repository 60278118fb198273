// Policy variants for `kvcompress eval`: a base policy followed by `+setting` parts, each
// changing ONE field of the policy (src/policies.ts), so the metric space is explored as settings
// of the one machinery: `kvcompress+l1+avg+w0` is kvcompress with the L1 metric, averaged over
// queries, scored by every prompt query.
import { POLICY_NAMES, type PolicyInput, type PolicyName } from "../policies";

/** The settings a `+part` can name, with what each one sets. */
export const VARIANT_PARTS: readonly string[] = [
  "l1", "l2", "none (metric)", "w<N> (obsWindow; w0 = every prompt query)", "pool<N> (odd max-pool width)",
  "sum | avg (over queries)", "gsum | gmax (over the query group)", "global | layer | uniform | pyramid (ranking)",
  "pw<N> (protected window)", "sinks<N>",
  "floor<N> (head floor, N % of the mean per-head share)", "vnorm | novnorm (score × value norm, or not)",
];

type Overrides = Omit<PolicyInput, "name" | "maxTokensPerHead" | "ratio" | "minTokens">;

function part(p: string): Overrides | null {
  if (p === "l1" || p === "l2" || p === "none") return { metric: p };
  if (p === "sum" || p === "avg") return { queryReduce: p };
  if (p === "vnorm" || p === "novnorm") return { valueNorm: p === "vnorm" };
  if (p === "gsum") return { groupReduce: "sum" };
  if (p === "gmax") return { groupReduce: "max" };
  if (p === "global" || p === "layer" || p === "uniform" || p === "pyramid") return { ranking: p };
  const m = /^(w|pool|pw|sinks|floor)(\d+)$/.exec(p);
  if (!m) return null;
  const n = Number(m[2]);
  if (m[1] === "floor") return n <= 100 ? { headFloor: n / 100 } : null;
  if (m[1] === "w") return { obsWindow: n };
  if (m[1] === "pool") return n % 2 === 1 ? { poolWidth: n } : null;
  return m[1] === "pw" ? { protectedWindow: n } : { sinks: n };
}

/** `base+part+…` → the base policy and its overrides; null if the name is not such a variant. */
export function parseVariant(name: string): { name: PolicyName; overrides: Overrides } | null {
  const [base, ...parts] = name.split("+");
  if (parts.length === 0 || !POLICY_NAMES.includes(base as PolicyName) || base === "full") return null;
  const overrides: Overrides = {};
  for (const p of parts) {
    const o = part(p);
    if (o === null) return null;
    Object.assign(overrides, o);
  }
  return { name: base as PolicyName, overrides };
}
