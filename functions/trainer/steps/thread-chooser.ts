/**
 * Picks how many threads compute each training step's gradients, from how fast each choice ran
 * recently. On an idle 2-core machine 2 threads train faster than 1, but while another
 * process holds a core, every 2-thread step waits for the descheduled thread and 1 thread wins
 * (npm run bench -- --load 1; figures in docs/benchmarks.md). Both compute the same gradients up to float rounding, so switching
 * between them mid-run is safe; only bit-exact reproducibility is lost.
 */

export interface ThreadChooserOptions {
  /** Thread counts to choose from, e.g. [1, 2]. */
  readonly candidates: readonly number[];
  /** Recent timings kept per candidate; its estimate is their median. Default 7. */
  readonly window?: number;
  /**
   * Steps on the current best before the others are timed again: first `firstRecheck`, doubling
   * after each recheck up to `recheckEvery`, and back to `firstRecheck` when the best changes
   * (early timings are the noisiest: a new gradient thread's wasm code is still being optimised).
   * Defaults 25 and 200.
   */
  readonly firstRecheck?: number;
  readonly recheckEvery?: number;
  /** Consecutive steps each other candidate gets when re-timed (a majority of its window). Default 4. */
  readonly recheckSteps?: number;
  /**
   * Largest share of the time the rechecks may cost: when the others are much slower than the best
   * (2 OpenMP threads on a busy machine can be many times slower than 1), rechecks are spaced further apart
   * than `recheckEvery`, up to `maxRecheckGap` steps, so that their extra time stays within it.
   * Default: no such limit.
   */
  readonly recheckBudget?: number;
  /** Default 2,000 steps. */
  readonly maxRecheckGap?: number;
}

export class ThreadChooser {
  readonly candidates: readonly number[];
  private readonly window: number;
  private readonly firstRecheck: number;
  private readonly recheckEvery: number;
  private readonly recheckSteps: number;
  private readonly recheckBudget?: number;
  private readonly maxRecheckGap: number;
  private recheckInterval: number;
  private lastBest = -1;
  /** Recent ms per image, per candidate (ring buffers). */
  private readonly samples: number[][];
  private readonly next: number[];
  private sinceRecheck = 0;
  /** Candidates still to re-time in the current recheck, with the steps each has left. */
  private rechecks: { index: number; steps: number }[] = [];
  /** Steps taken per candidate since the last `takeUsage()`. */
  private usage: number[];

  constructor(opts: ThreadChooserOptions) {
    if (opts.candidates.length === 0) throw new Error('ThreadChooser needs at least one candidate');
    this.candidates = opts.candidates;
    this.window = opts.window ?? 7;
    this.recheckEvery = opts.recheckEvery ?? 200;
    this.firstRecheck = Math.min(opts.firstRecheck ?? 25, this.recheckEvery);
    this.recheckInterval = this.firstRecheck;
    this.recheckSteps = Math.min(opts.recheckSteps ?? 4, this.window);
    this.recheckBudget = opts.recheckBudget;
    this.maxRecheckGap = opts.maxRecheckGap ?? 2000;
    this.samples = opts.candidates.map(() => []);
    this.next = opts.candidates.map(() => 0);
    this.usage = opts.candidates.map(() => 0);
  }

  /** The thread count for the next step. */
  choose(): number {
    return this.candidates[this.chooseIndex()];
  }

  /** Records how long a step on `threads` took, per image of its batch. */
  record(threads: number, msPerImage: number): void {
    const i = this.candidates.indexOf(threads);
    if (i < 0 || !Number.isFinite(msPerImage)) return;
    const ring = this.samples[i];
    if (ring.length < this.window) ring.push(msPerImage);
    else ring[this.next[i]] = msPerImage;
    this.next[i] = (this.next[i] + 1) % this.window;
    this.usage[i]++;
  }

  /** The candidate used most since the last call (ties: the fewer threads), then starts counting afresh. */
  takeUsage(): number | undefined {
    const most = this.usage.reduce((best, n, i) => (n > this.usage[best] ? i : best), 0);
    const result = this.usage[most] > 0 ? this.candidates[most] : undefined;
    this.usage = this.candidates.map(() => 0);
    return result;
  }

  private chooseIndex(): number {
    // Until every candidate has a full window, take turns.
    const unfilled = this.samples.findIndex((s) => s.length < this.window);
    if (unfilled >= 0) {
      return this.samples.reduce((least, s, i) => (s.length < this.samples[least].length ? i : least), unfilled);
    }
    const best = this.bestIndex();
    if (best !== this.lastBest) {
      this.lastBest = best;
      this.recheckInterval = this.firstRecheck;
      this.sinceRecheck = 0;
    }
    if (
      this.rechecks.length === 0 &&
      this.candidates.length > 1 &&
      ++this.sinceRecheck > Math.max(this.recheckInterval, this.costGap(best))
    ) {
      this.sinceRecheck = 0;
      this.recheckInterval = Math.min(this.recheckInterval * 2, this.recheckEvery);
      this.rechecks = this.candidates.map((_, index) => ({ index, steps: this.recheckSteps })).filter((r) => r.index !== best);
    }
    const current = this.rechecks[0];
    if (!current) return best;
    if (--current.steps === 0) this.rechecks.shift();
    return current.index;
  }

  /** Steps between rechecks that keep their extra time within recheckBudget (0 without a budget). */
  private costGap(best: number): number {
    if (!this.recheckBudget) return 0;
    const estimates = this.samples.map(median);
    const slowest = Math.max(...estimates.filter((_, i) => i !== best)) / estimates[best];
    return Math.min(this.maxRecheckGap, (this.recheckSteps * (slowest - 1)) / this.recheckBudget);
  }

  private bestIndex(): number {
    const estimates = this.samples.map(median);
    return estimates.reduce((best, e, i) => (e < estimates[best] ? i : best), 0);
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
