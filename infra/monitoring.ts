import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS } from '../shared/settings';

/** Props of {@link Monitoring}. */
export interface MonitoringProps {
  /** The training-job queue. */
  readonly queue: sqs.IQueue;
  /** Its dead-letter queue: any message here is a job that failed every try. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Visible + in-flight jobs (the metric the trainer service scales on). */
  readonly queueDepth: cloudwatch.IMetric;
  /** The predict function, for its latency and errors. */
  readonly predictFunction: lambda.IFunction;
  /** The REST API, for its 5XX answers. */
  readonly restApi?: apigw.RestApi;
  /**
   * Where the alarms send ALARM and OK notifications. Without one they only show in the console.
   * @default none
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Name of the dashboard.
   * @default CloudFormation generates one
   */
  readonly dashboardName?: string;
}

/** Alarms on dead-lettered and failed jobs, and a dashboard of the queue, training and predictions. */
export class Monitoring extends Construct {
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly failedJobsAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // Alarms get metrics without a label: a label makes CloudFormation's alarm a metric-math one.
    const trainer = (metricName: string, statistic: string, label?: string, period = Duration.minutes(5)) =>
      new cloudwatch.Metric({
        namespace: METRICS.namespace,
        metricName,
        dimensionsMap: { service: METRICS.service },
        statistic,
        label,
        period,
      });
    const N = METRICS.names;

    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: cloudwatch.Stats.MAXIMUM,
    });
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'A training job failed on every receive and is in the dead-letter queue; its jobs/<id>.json says why.',
      metric: dlqDepth,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const failed = trainer(N.failedJobs, cloudwatch.Stats.SUM);
    this.failedJobsAlarm = new cloudwatch.Alarm(this, 'FailedJobsAlarm', {
      alarmDescription: 'A training job ended FAILED (bad message, bad dataset or every retry used); GET /jobs/{id} gives the reason.',
      metric: failed,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data means no job failed: the trainer only writes the metric when one does.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      for (const alarm of [this.deadLetterAlarm, this.failedJobsAlarm]) {
        alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
        alarm.addOkAction(new cwActions.SnsAction(props.alarmTopic));
      }
    }

    const predictErrors = [props.predictFunction.metricErrors({ period: Duration.minutes(5), label: 'predict Lambda errors' })];
    if (props.restApi) predictErrors.push(props.restApi.metricServerError({ period: Duration.minutes(5), label: 'API 5XX' }));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Training jobs queued or running', left: [props.queueDepth], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Dead-letter queue',
            left: [dlqDepth.with({ label: 'Jobs in the dead-letter queue' })],
            leftAnnotations: [{ value: 0, label: 'alarm above' }],
            width: 8,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [this.deadLetterAlarm, this.failedJobsAlarm], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Job outcomes',
            left: [
              trainer(N.succeededJobs, cloudwatch.Stats.SUM, 'Succeeded'),
              failed.with({ label: 'Failed' }),
              trainer(N.retriedJobs, cloudwatch.Stats.SUM, 'Retried'),
              trainer(N.cancelledJobs, cloudwatch.Stats.SUM, 'Cancelled'),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Training images/s (per epoch)',
            left: [trainer(N.imagesPerSecond, cloudwatch.Stats.AVERAGE, 'images/s')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Accuracy',
            left: [
              trainer(N.testAccuracy, cloudwatch.Stats.MAXIMUM, 'test (per job)'),
              trainer(N.valAccuracy, cloudwatch.Stats.MAXIMUM, 'validation (per epoch)'),
            ],
            leftYAxis: { min: 0, max: 1 },
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Predict latency (ms)',
            left: [
              props.predictFunction.metricDuration({ statistic: 'p50', period: Duration.minutes(5), label: 'p50' }),
              props.predictFunction.metricDuration({ statistic: 'p99', period: Duration.minutes(5), label: 'p99' }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Predict errors', left: predictErrors, width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Time to first training step (s)',
            left: [trainer(N.timeToFirstStep, cloudwatch.Stats.MAXIMUM, 'per job')],
            width: 8,
          }),
        ],
      ],
    });
  }
}
