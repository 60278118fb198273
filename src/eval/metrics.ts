// Fidelity metrics of docs/METHOD.md §5, computed from raw logits rows (one Float32Array over the
// whole vocabulary per prediction). Everything after the logits is float64: KL between two
// nearly identical distributions is a small difference of large sums, and f32 would bury it
// in rounding (a 1e-7 relative error per term over a 32K vocabulary is already ~1e-3 nats).
import { InvalidArgumentError } from "../errors";

/**
 * log-softmax of one logits row, in float64: `x_i − max − log Σ_j exp(x_j − max)`.
 * Subtracting the max first keeps exp() in range; −∞ logits (masked tokens) are allowed and
 * give −∞ log-probabilities.
 * @throws InvalidArgumentError on NaN or +∞ logits (a runner bug, better loud than a NaN table)
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = logits[i];
    if (Number.isNaN(x) || x === Infinity) throw new InvalidArgumentError(`logits[${i}]`, x, "must be finite or −∞");
    if (x > max) max = x;
  }
  if (max === -Infinity) throw new InvalidArgumentError("logits", "all −∞", "must have one finite entry");
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  const logSum = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[i] - logSum;
  return out;
}

/** Index of the largest entry; equal values → the LOWER id wins (written rule, so every backend agrees). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  // Strict ">" keeps the first (lowest) id among equal maxima.
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * KL(p ‖ q) = Σ_i p_i (log p_i − log q_i) over the whole vocabulary, from log-probabilities.
 * Terms with p_i = 0 contribute 0 (the limit of p log p); p_i > 0 with q_i = 0 gives +∞.
 * The sum is clamped at 0: it is ≥ 0 in exact arithmetic, and rounding can leave −1e-17 for
 * identical-up-to-rounding inputs, which would read as a (meaningless) negative divergence.
 */
export function klFromLogProbs(logP: Float64Array, logQ: Float64Array): number {
  if (logP.length !== logQ.length) throw new InvalidArgumentError("logQ.length", logQ.length, `must equal logP.length = ${logP.length}`);
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i];
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - logQ[i]);
  }
  return kl > 0 ? kl : 0;
}

/** KL(full ‖ policy) of two logits rows. */
export function klDivergence(fullLogits: ArrayLike<number>, policyLogits: ArrayLike<number>): number {
  return klFromLogProbs(logSoftmax(fullLogits), logSoftmax(policyLogits));
}

/** Negative log-likelihood (nats) of `targetId` under a logits row. */
export function nll(logits: ArrayLike<number>, targetId: number): number {
  return -logSoftmax(logits)[targetId];
}

/** Sums over a set of predictions; sums (not means) so windows of any size combine exactly. */
export interface PredictionSums {
  numPredictions: number;
  /** Σ NLL of the true token under the policy, nats. */
  nll: number;
  /** Σ KL(full ‖ policy), nats. */
  kl: number;
  /** Number of predictions whose argmax equals full's argmax. */
  top1: number;
}

/**
 * Scores one window's predictions of a policy against full.
 * @param fullLogProbs log-softmax of full's rows (computed once per window, reused for every policy)
 * @param policyRows   the policy's logits rows, same order as `fullLogProbs`
 * @param targetIds    the true next tokens, `targetIds[k]` is predicted by row k
 */
export function scorePredictions(
  fullLogProbs: readonly Float64Array[],
  policyRows: readonly ArrayLike<number>[],
  targetIds: ArrayLike<number>,
): PredictionSums {
  const n = fullLogProbs.length;
  if (policyRows.length !== n) throw new InvalidArgumentError("policy rows", policyRows.length, `must equal full rows = ${n}`);
  if (targetIds.length !== n) throw new InvalidArgumentError("targetIds.length", targetIds.length, `must equal rows = ${n}`);
  const sums: PredictionSums = { numPredictions: n, nll: 0, kl: 0, top1: 0 };
  for (let k = 0; k < n; k++) {
    const lp = fullLogProbs[k];
    const lq = logSoftmax(policyRows[k]);
    const target = targetIds[k];
    if (!(target >= 0 && target < lq.length)) throw new InvalidArgumentError(`targetIds[${k}]`, target, `must be in [0, ${lq.length})`);
    sums.nll -= lq[target];
    sums.kl += klFromLogProbs(lp, lq);
    // argmax on the f64 log-probs: log-softmax is monotonic, so ids and ties match the logits.
    if (argmax(lp) === argmax(lq)) sums.top1++;
  }
  return sums;
}

/** Means over every prediction of every window added so far. */
export interface MetricMeans {
  numPredictions: number;
  numWindows: number;
  /** Mean NLL of the true token, nats. */
  nll: number;
  /** Mean KL(full ‖ policy), nats. */
  kl: number;
  /** Fraction of predictions with the same argmax as full, in [0, 1]. */
  top1: number;
}

/**
 * Accumulates per-window sums into means over predictions. All windows of one run have T−P
 * predictions, so this equals the mean of per-window means; weighting by predictions keeps
 * it exact even if a caller mixes window sizes.
 */
export class MetricAccumulator {
  private numPredictions = 0;
  private numWindows = 0;
  private nllSum = 0;
  private klSum = 0;
  private top1Sum = 0;

  add(sums: PredictionSums): void {
    this.numPredictions += sums.numPredictions;
    this.numWindows++;
    this.nllSum += sums.nll;
    this.klSum += sums.kl;
    this.top1Sum += sums.top1;
  }

  mean(): MetricMeans {
    const n = this.numPredictions;
    if (n === 0) return { numPredictions: 0, numWindows: this.numWindows, nll: NaN, kl: NaN, top1: NaN };
    return { numPredictions: n, numWindows: this.numWindows, nll: this.nllSum / n, kl: this.klSum / n, top1: this.top1Sum / n };
  }
}
