/**
 * The deployed stack as its users reach it: its default name and the output keys that the CLI, the
 * local scripts and the README read. infra/lenet-stack.ts writes exactly these outputs.
 */

/** The stack's name unless `-c stackName=…` (cdk) or `LENET_STACK` (CLI) says otherwise. */
export const STACK_NAME = 'LenetMnist';

/** CloudFormation output keys of the stack. */
export const StackOutput = {
  ApiUrl: 'ApiUrl',
  BucketName: 'BucketName',
  QueueUrl: 'QueueUrl',
  DeadLetterQueueUrl: 'DeadLetterQueueUrl',
  ClusterName: 'ClusterName',
  TrainerServiceName: 'TrainerServiceName',
  JobsOperatorPolicyArn: 'JobsOperatorPolicyArn',
  ModelAdminPolicyArn: 'ModelAdminPolicyArn',
  BatchRoleArn: 'BatchRoleArn',
} as const;

/**
 * An API URL as CloudFormation reports it, made callable on an emulator:
 * `https://<id>.execute-api.<region>.amazonaws.com/<stage>/` → `<endpoint>/_aws/execute-api/<id>/<stage>/`.
 * Other URLs are returned unchanged.
 */
export function emulatorApiUrl(awsUrl: string, endpoint: string): string {
  const m = /^https?:\/\/([a-z0-9]+)\.execute-api\.[^/]+\/(.*)$/.exec(awsUrl);
  if (!m) return awsUrl;
  return `${endpoint.replace(/\/+$/, '')}/_aws/execute-api/${m[1]}/${m[2]}`;
}
