/**
 * POST /jobs starts a trainer task at once instead of waiting for the queue-depth alarm (SQS metrics
 * are 1-minute and pause on an idle queue: docs/reliability.md, "Time to first batch"). It raises the
 * service's desired count to 1 when it is 0 and leaves any higher count alone. Application Auto
 * Scaling may lower it again before the task takes the job; the trainer protects itself from
 * scale-in from start-up and while it trains (functions/trainer/main.ts, heartbeat.ts).
 */
import { DescribeServicesCommand, type ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';

export type WakeResult = 'started' | 'running' | 'off';

export interface TrainerService {
  cluster: string;
  service: string;
}

export async function wakeTrainer(ecs: ECSClient, target: TrainerService | undefined): Promise<WakeResult> {
  if (!target) return 'off';
  const out = await ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }));
  if ((out.services?.[0]?.desiredCount ?? 0) > 0) return 'running';
  await ecs.send(new UpdateServiceCommand({ cluster: target.cluster, service: target.service, desiredCount: 1 }));
  return 'started';
}
