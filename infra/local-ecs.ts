import { Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { acknowledge } from './nag';
import type { TrainerService } from './trainer-service';

/**
 * Image of the trainer in local ECS mode: the tag `npm run build:trainer-image` builds. MiniStack
 * runs an image URI only if that exact tag exists in local Docker (its pull fails and falls back to
 * the local cache), so the task definition names the local tag itself; give another URI only after
 * `docker tag lenet-trainer:local <uri>`.
 */
export const LOCAL_ECS_IMAGE = 'lenet-trainer:local';

/** Options of {@link runOnMiniStackEcs}. */
export interface LocalEcsOptions {
  /**
   * Credentials the container uses instead of its task role. MiniStack does not emulate task role
   * credentials: the keys it serves at AWS_CONTAINER_CREDENTIALS_FULL_URI are random and rejected.
   * The SDK's default chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY before the container
   * endpoint, so these win. With MiniStack's `AUTH=true`, use an IAM user's keys whose policy
   * matches the task role's.
   * @default MiniStack's root keys test/test
   */
  readonly accessKeyId?: string;
  /** @default 'test' */
  readonly secretAccessKey?: string;
}

/**
 * LOCAL (MiniStack) MODE ONLY. Makes the real Fargate service and task definition runnable by
 * MiniStack's Docker-backed ECS (docs/ministack-notes.md, "ECS through MiniStack"):
 * - network mode `host` instead of `awsvpc`: MiniStack binds 127.0.0.1, and only a container on the
 *   host network reaches it (it then injects AWS_ENDPOINT_URL=http://127.0.0.1:<port>);
 *   the service's awsvpc network configuration is dropped with it;
 * - AWS_REGION in the environment (MiniStack injects none; the SDK fails without one);
 * - credentials in the environment (task roles are not emulated, see {@link LocalEcsOptions});
 * - desired count 1: MiniStack has no Application Auto Scaling, so the service would stay at 0.
 * The AWS deployment never calls this: it keeps awsvpc, the task role and auto scaling from 0.
 */
export function runOnMiniStackEcs(trainer: TrainerService, opts: LocalEcsOptions = {}): void {
  const taskDefinition = trainer.taskDefinition.node.defaultChild as ecs.CfnTaskDefinition;
  taskDefinition.addPropertyOverride('NetworkMode', 'host');
  acknowledge(taskDefinition, [
    {
      id: 'CloudFormation-Validate::E3048',
      reason:
        'Local (MiniStack) ECS mode only: host network is the only mode whose containers reach the emulator on 127.0.0.1; AWS keeps awsvpc.',
    },
  ]);
  const service = trainer.service.node.defaultChild as ecs.CfnService;
  service.addPropertyDeletionOverride('NetworkConfiguration');
  service.addPropertyOverride('DesiredCount', 1);
  trainer.container.addEnvironment('AWS_REGION', Stack.of(trainer).region);
  trainer.container.addEnvironment('AWS_ACCESS_KEY_ID', opts.accessKeyId ?? 'test');
  trainer.container.addEnvironment('AWS_SECRET_ACCESS_KEY', opts.secretAccessKey ?? 'test');
}
