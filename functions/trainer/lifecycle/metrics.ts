import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../../../shared/settings';
import type { EpochMetrics } from '../../../shared/documents';

export type JobOutcomeMetric = 'SUCCEEDED' | 'FAILED' | 'RETRIED' | 'CANCELLED';

/** What the trainer reports to CloudWatch. */
export interface TrainerMetrics {
  epoch(m: EpochMetrics): void;
  testAccuracy(accuracy: number): void;
  timeToFirstStep(seconds: number): void;
  jobOutcome(outcome: JobOutcomeMetric): void;
}

export const noMetrics: TrainerMetrics = {
  epoch: () => {},
  testAccuracy: () => {},
  timeToFirstStep: () => {},
  jobOutcome: () => {},
};

const N = METRICS.names;
const OUTCOME_METRIC: Record<JobOutcomeMetric, string> = {
  SUCCEEDED: N.succeededJobs,
  FAILED: N.failedJobs,
  RETRIED: N.retriedJobs,
  CANCELLED: N.cancelledJobs,
};

/**
 * Powertools Metrics: every call prints one EMF line to stdout at once (a long-running process has
 * no end of invocation to flush at), so each data point carries the time it happened.
 */
export function makeTrainerMetrics(metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service })): TrainerMetrics {
  const publish = (add: (m: Metrics) => void) => {
    add(metrics);
    metrics.publishStoredMetrics();
  };
  return {
    epoch: (m) =>
      publish((x) => {
        x.addMetric(N.imagesPerSecond, MetricUnit.CountPerSecond, m.imagesPerSecond);
        x.addMetric(N.trainLoss, MetricUnit.NoUnit, m.loss);
        x.addMetric(N.trainAccuracy, MetricUnit.NoUnit, m.accuracy);
        if (m.valLoss !== undefined) x.addMetric(N.valLoss, MetricUnit.NoUnit, m.valLoss);
        if (m.valAccuracy !== undefined) x.addMetric(N.valAccuracy, MetricUnit.NoUnit, m.valAccuracy);
      }),
    testAccuracy: (accuracy) => publish((x) => x.addMetric(N.testAccuracy, MetricUnit.NoUnit, accuracy)),
    timeToFirstStep: (seconds) => publish((x) => x.addMetric(N.timeToFirstStep, MetricUnit.Seconds, seconds)),
    jobOutcome: (outcome) => publish((x) => x.addMetric(OUTCOME_METRIC[outcome], MetricUnit.Count, 1)),
  };
}
