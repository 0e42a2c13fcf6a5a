/**
 * POST /sweeps and GET /sweeps/{id}: a sweep is recorded (sweeps/<id>.json), then each of its
 * variants is submitted as an ordinary job through JobsApi.submit, tagged with the sweep id. The
 * trainer service runs them like any jobs (as many at once as it has tasks); the trainer that ends
 * the last one promotes the winner when asked (functions/trainer/lifecycle/sweep-promotion.ts).
 */
import { randomUUID } from 'node:crypto';
import { sweepIndexKeys, sweepKeys } from '../../shared/bucket-layout';
import {
  isFinished,
  type JobProgress,
  type JobState,
  type JobStatus,
  type SweepCancel,
  type SweepDoc,
  type SweepPromotionClaim,
  type SweepPromotionOutcome,
} from '../../shared/documents';
import { cancelQueuedJob, fileCancelRequest } from '../../shared/job-cancel';
import { HttpError } from '../../shared/http';
import type { DatasetCounts } from '../../shared/job-limits';
import { jobIdAt, JobStore } from '../../shared/job-store';
import type { Bucket } from '../../shared/s3-objects';
import { SweepId } from '../../shared/schemas';
import {
  bestValAccuracy,
  expandSweep,
  isTerminal,
  type ParamsPatch,
  rankVariants,
  SWEEP_MAX_VARIANTS,
  SweepRefusedError,
  type SweepRequest,
  sweepDatasetPrefixes,
  sweepSize,
} from '../../shared/sweep';
import type { JobsApi } from './jobs-api';

/** One variant in GET /sweeps/{id}: where its job is and how good it is so far. */
export interface SweepVariantView {
  /** 1 is the best (shared/sweep.ts rankVariants). */
  rank: number;
  jobId: string;
  /** The variant's own choices (the base is in the request). */
  params: ParamsPatch;
  /** MISSING: the sweep names the job but it has no status document (its submission did not happen). */
  status: JobState | 'MISSING';
  epoch: number;
  totalEpochs?: number;
  progress?: JobProgress;
  bestValAccuracy?: number;
  testAccuracy?: number;
  testLoss?: number;
  fullTestSet?: boolean;
  trainer?: string;
  reason?: string;
}

export interface SweepView {
  sweepId: string;
  createdAt: string;
  promote: SweepDoc['promote'];
  request: SweepRequest;
  /** Every variant has ended. */
  done: boolean;
  /** The variants in submission order. */
  variants: SweepVariantView[];
  /** Job ids, best first. */
  ranking: string[];
  /** With promote 'best', once the sweep has ended: the trainer's claim and, when done, what it did. */
  promotion?: { claim?: SweepPromotionClaim; outcome?: SweepPromotionOutcome };
  /** Set once the sweep was cancelled (POST /sweeps/{id}/cancel): who, when, which jobs; nothing is promoted after it. */
  cancel?: SweepCancel;
}

/** `sweep-<UTC yyyymmddhhmmss>-<8 hex>`: sorts by age, like job ids. */
const newSweepId = (at: Date) => `sweep-${jobIdAt(at, randomUUID().slice(0, 8)).replace(/^job-/, '')}`;

export class SweepsApi {
  private readonly store: JobStore;

  constructor(
    private readonly bucket: Bucket,
    private readonly jobs: JobsApi,
  ) {
    this.store = new JobStore(bucket);
  }

  /**
   * Refuses the whole sweep (400) if it is over the size cap (checked before expanding) or any
   * variant is invalid or over the per-job compute cap; else records it, then queues its jobs.
   */
  async submit(request: SweepRequest): Promise<SweepView> {
    const { size, how } = sweepSize(request);
    if (size > SWEEP_MAX_VARIANTS) {
      throw new HttpError(400, `Sweep refused: the sweep has ${how}; the limit is ${SWEEP_MAX_VARIANTS} variants per sweep.`, {
        variants: size,
        limit: SWEEP_MAX_VARIANTS,
      });
    }
    // Each dataset the variants train on is counted once (a missing one is a 400 from datasetCounts).
    const counts = new Map<string, DatasetCounts>();
    for (const prefix of sweepDatasetPrefixes(request)) counts.set(prefix, await this.jobs.datasetCounts(prefix));
    const countsOf = (prefix: string) => counts.get(prefix)!;
    let variants: ReturnType<typeof expandSweep>;
    try {
      variants = expandSweep(request, countsOf);
    } catch (err) {
      if (err instanceof SweepRefusedError) throw new HttpError(400, err.message, { problems: err.problems });
      throw err;
    }
    const now = new Date();
    const doc: SweepDoc = {
      sweepId: newSweepId(now),
      createdAt: now.toISOString(),
      request,
      promote: request.promote,
      variants: variants.map((v) => ({ jobId: jobIdAt(now, randomUUID().slice(0, 8)), params: v.patch })),
    };
    // First the sweep, so every job it queues belongs to a recorded sweep; create-only, never overwritten.
    const written = await this.bucket.putJsonIf(sweepKeys.doc(doc.sweepId), doc, { ifNoneMatch: '*' });
    if (!written.ok) throw new Error(`sweep id ${doc.sweepId} is taken`);
    // So GET /summary finds the newest sweep with one short LIST, however many there are (empty, like a jobs-index/ entry).
    await this.bucket.putBytes(sweepIndexKeys.entry(doc.createdAt, doc.sweepId), new Uint8Array(0));
    // In order, so the queue hands them out in the sweep's order.
    const statuses: JobStatus[] = [];
    for (const [i, v] of variants.entries()) {
      const { jobId } = doc.variants[i];
      statuses.push(await this.jobs.submit(v.params, { jobId, sweepId: doc.sweepId, counts: countsOf(v.params.datasetPrefix) }));
    }
    return view(doc, statuses);
  }

  async status(sweepId: string): Promise<SweepView> {
    const doc = await this.doc(sweepId);
    const [statuses, claim, outcome, cancel] = await Promise.all([
      Promise.all(doc.variants.map((v) => this.store.getWithProgress(v.jobId))),
      doc.promote === 'best' ? this.bucket.getJson<SweepPromotionClaim>(sweepKeys.promotionClaim(doc.sweepId)) : undefined,
      doc.promote === 'best' ? this.bucket.getJson<SweepPromotionOutcome>(sweepKeys.promotionOutcome(doc.sweepId)) : undefined,
      this.bucket.getJson<SweepCancel>(sweepKeys.cancel(doc.sweepId)),
    ]);
    return view(doc, statuses, claim || outcome ? { claim, outcome } : undefined, cancel);
  }

  /**
   * Cancels every job of the sweep that has not finished, on behalf of `by`, as POST /jobs/{id}/cancel
   * does (shared/job-cancel.ts): queued ones end CANCELLED at once, running ones at their trainer's
   * next batch. The sweep's own cancel record is written first, so a trainer ending the last job
   * after it never promotes a winner. 409 when every job had already finished.
   */
  async cancel(sweepId: string, by: string): Promise<SweepView> {
    const doc = await this.doc(sweepId);
    const statuses = await Promise.all(doc.variants.map((v) => this.store.get(v.jobId)));
    // A job without a status document may still be on its way in (POST /sweeps still queueing): its cancel request stops it on arrival.
    const open = doc.variants.filter((_v, i) => !statuses[i] || !isFinished(statuses[i].status)).map((v) => v.jobId);
    const record: SweepCancel = { sweepId: doc.sweepId, requestedBy: by, requestedAt: new Date().toISOString(), jobIds: open };
    if (open.length === 0) {
      const earlier = await this.bucket.getJson<SweepCancel>(sweepKeys.cancel(doc.sweepId));
      const how = earlier
        ? `was cancelled by ${earlier.requestedBy} at ${earlier.requestedAt}`
        : `has ended: all ${doc.variants.length} of its jobs have finished`;
      throw new HttpError(409, `Sweep "${doc.sweepId}" ${how}; there is nothing to cancel.`);
    }
    // The promotion claim first: if the last trainer took it, the sweep had finished and its winner is
    // being promoted, so there is nothing to cancel; once the cancel holds it, no trainer promotes.
    if (doc.promote === 'best') await this.claimForCancel(doc.sweepId, record);
    // Create-only: a repeated cancel keeps the first caller and time, and still cancels what is left.
    await this.bucket.putJsonIf(sweepKeys.cancel(doc.sweepId), record, { ifNoneMatch: '*' });
    for (const jobId of open) {
      const request = await fileCancelRequest(this.bucket, jobId, by);
      await cancelQueuedJob(this.bucket, request);
    }
    return this.status(doc.sweepId);
  }

  /** Takes the sweep's promotion claim for the cancel (a repeated cancel finds its own); 409 if a trainer holds it. */
  private async claimForCancel(sweepId: string, record: SweepCancel): Promise<void> {
    const key = sweepKeys.promotionClaim(sweepId);
    const claim: SweepPromotionClaim = {
      sweepId,
      claimId: randomUUID(),
      claimedBy: 'cancel',
      claimedAt: record.requestedAt,
      cancelled: { requestedBy: record.requestedBy, requestedAt: record.requestedAt },
    };
    if ((await this.bucket.putJsonIf(key, claim, { ifNoneMatch: '*' })).ok) return;
    const held = await this.bucket.getJson<SweepPromotionClaim>(key);
    if (held?.cancelled) return;
    throw new HttpError(
      409,
      `Sweep "${sweepId}" has finished: trainer ${held?.claimedBy} began promoting its winner at ${held?.claimedAt}; there is nothing to cancel.`,
    );
  }

  private async doc(sweepId: string): Promise<SweepDoc> {
    const id = SweepId.safeParse(sweepId);
    if (!id.success) throw new HttpError(400, `Invalid sweep id "${sweepId}": ${id.error.issues[0].message}.`);
    const doc = await this.bucket.getJson<SweepDoc>(sweepKeys.doc(id.data));
    if (!doc) throw new HttpError(404, `No sweep "${sweepId}".`);
    return doc;
  }
}

/** The sweep with each variant's job, ranked. */
export function view(
  doc: SweepDoc,
  statuses: (JobStatus | undefined)[],
  promotion?: SweepView['promotion'],
  cancel?: SweepCancel,
): SweepView {
  const rows = doc.variants.map((v, i) => {
    const s = statuses[i];
    return {
      jobId: v.jobId,
      params: v.params,
      status: s?.status ?? ('MISSING' as const),
      epoch: s?.epoch ?? 0,
      totalEpochs: s?.totalEpochs,
      progress: s?.progress,
      bestValAccuracy: s ? bestValAccuracy(s) : undefined,
      testAccuracy: s?.testAccuracy,
      testLoss: s?.testLoss,
      fullTestSet: s?.fullTestSet,
      trainer: s?.trainer,
      reason: s?.reason,
      metrics: s?.metrics,
    };
  });
  const ranking = rankVariants(rows.map((r) => ({ ...r, status: r.status === 'MISSING' ? undefined : r.status }))).map((r) => r.jobId);
  const variants: SweepVariantView[] = rows.map(({ metrics: _m, ...r }) => ({ rank: ranking.indexOf(r.jobId) + 1, ...r }));
  return {
    sweepId: doc.sweepId,
    createdAt: doc.createdAt,
    promote: doc.promote,
    request: doc.request,
    done: rows.every((r) => r.status !== 'MISSING' && isTerminal(r.status)),
    variants,
    ranking,
    ...(promotion ? { promotion } : {}),
    ...(cancel ? { cancel } : {}),
  };
}
