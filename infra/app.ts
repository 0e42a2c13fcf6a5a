import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from './nag';
import { LenetStack } from './lenet-stack';
import { STACK_NAME } from '../shared/stack';

/** Reads a boolean context value given as `-c key=true` (a string) or in cdk.json (a boolean). */
function flag(app: App, key: string): boolean {
  const value: unknown = app.node.tryGetContext(key);
  return value === true || value === 'true' || value === '1';
}

const app = new App();
const local = flag(app, 'local');
const stackName: string = app.node.tryGetContext('stackName') ?? STACK_NAME;

const minAccuracy: string | undefined = app.node.tryGetContext('promotionMinAccuracy');
if (minAccuracy !== undefined && !(Number(minAccuracy) >= 0 && Number(minAccuracy) <= 1)) {
  throw new Error(`-c promotionMinAccuracy=${minAccuracy}: must be a number from 0 to 1.`);
}

const alarmTopicArn: string | undefined = app.node.tryGetContext('alarmTopicArn') || undefined;
if (alarmTopicArn !== undefined && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(alarmTopicArn)) {
  throw new Error(`-c alarmTopicArn=${alarmTopicArn}: not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>).`);
}

const trainerImage: string | undefined = app.node.tryGetContext('trainerImage');

// Off by default: a new account's concurrency quota (10) cannot fit any reservation (README "Deploying to AWS").
const reserved: unknown = app.node.tryGetContext('predictReservedConcurrency');
if (reserved !== undefined && !(Number.isInteger(Number(reserved)) && Number(reserved) >= 1)) {
  throw new Error(
    `-c predictReservedConcurrency=${reserved}: must be a whole number from 1 (npm run predeploy-check -- --reserved N checks the account).`,
  );
}

new LenetStack(app, stackName, {
  local,
  // -c localEcs=true: MiniStack runs the trainer service as a Docker container (infra/local-ecs.ts).
  localEcs: flag(app, 'localEcs'),
  localTrainerImage: trainerImage,
  promotionMinAccuracy: minAccuracy === undefined ? undefined : Number(minAccuracy),
  description: 'LeNet-5 on MNIST: S3 + SQS + Fargate trainer + Lambda/API Gateway predictions',
  alarmTopicArn,
  api: reserved === undefined ? undefined : { predictReservedConcurrency: Number(reserved) },
});

// cdk-nag 3 is a policy validation plugin: unacknowledged findings fail `cdk synth`/`cdk deploy`.
// Disable with -c nag=false.
if (app.node.tryGetContext('nag') !== 'false') {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}

app.synth();
