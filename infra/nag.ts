import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
// cdk-nag is a CommonJS (jsii) package whose named exports Node's ESM loader cannot detect
// (`import { AwsSolutionsChecks } from 'cdk-nag'` fails at run time under "type": "module"),
// so import the module object once here.
import cdkNag from 'cdk-nag';
import type { IConstruct } from 'constructs';

export const { AwsSolutionsChecks } = cdkNag;

/** One cdk-nag acknowledgement (cdk-nag 3 uses CDK's `Validations.of().acknowledge()`, not NagSuppressions). */
export interface NagAck {
  /** Rule id, e.g. 'AwsSolutions-S1'; for rules with findings one finding, e.g. 'AwsSolutions-IAM5[Action::s3:List*]'. */
  readonly id: string;
  /** Why the finding is acceptable. Required: every acknowledgement carries a written reason. */
  readonly reason: string;
}

/** Acknowledges cdk-nag findings on `scope` and everything below it. */
export function acknowledge(scope: IConstruct, acks: NagAck[]): void {
  for (const ack of acks) {
    if (!ack.reason.trim()) throw new Error(`cdk-nag acknowledgement ${ack.id} needs a reason`);
    Validations.of(scope).acknowledge({ id: ack.id, reason: ack.reason });
  }
}

/**
 * The token cdk-nag prints for `Fn::GetAtt <resource>.Arn` in IAM findings, e.g.
 * '<StorageBucket19DB2FF8.Arn>'. cdk-nag 3 matches findings by exact id, so findings that
 * mention a logical id have to be built from the resource.
 */
export function arnRef(resource: IConstruct): string {
  const cfn = CfnResource.isCfnResource(resource) ? resource : resource.node.defaultChild;
  if (!cfn || !CfnResource.isCfnResource(cfn)) throw new Error(`${resource.node.path} has no CfnResource`);
  return `<${Stack.of(cfn).resolve(cfn.logicalId)}.Arn>`;
}

/** The ref cdk-nag prints for `Ref <resource>`, e.g. '<TrainerCluster3242B7A4>'. */
export function refOf(resource: IConstruct): string {
  const cfn = CfnResource.isCfnResource(resource) ? resource : resource.node.defaultChild;
  if (!cfn || !CfnResource.isCfnResource(cfn)) throw new Error(`${resource.node.path} has no CfnResource`);
  return `<${Stack.of(cfn).resolve(cfn.logicalId)}>`;
}
