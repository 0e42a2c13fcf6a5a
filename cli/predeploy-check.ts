/**
 * Checks, before the first `cdk deploy` into an account, that the service-linked roles the stack needs
 * exist; prints the commands that create the missing ones.
 *
 *   npm run predeploy-check      # exit 0: all there; exit 1: some missing (commands printed); exit 2: could not check
 *
 * Why a check and not a stack resource: `AWS::IAM::ServiceLinkedRole` fails the deploy when the role
 * already exists, which it does in most accounts that have used ECS; and a custom resource that
 * creates it would add a Lambda function and an IAM role to the stack for a one-time step. Creating
 * the ECS cluster makes ECS create its role, but not always before CloudFormation creates the service
 * (aws-cdk#4108).
 */
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { pathToFileURL } from 'node:url';

export interface ServiceLinkedRole {
  /** The service principal `aws iam create-service-linked-role` takes. */
  readonly service: string;
  /** The name AWS gives the role. */
  readonly roleName: string;
  readonly neededFor: string;
}

export const SERVICE_LINKED_ROLES: readonly ServiceLinkedRole[] = [
  { service: 'ecs.amazonaws.com', roleName: 'AWSServiceRoleForECS', neededFor: 'the ECS cluster and the Fargate trainer service' },
  {
    service: 'ecs.application-autoscaling.amazonaws.com',
    roleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
    neededFor: 'scaling the trainer service on queue depth',
  },
];

export const createCommand = (role: ServiceLinkedRole) => `aws iam create-service-linked-role --aws-service-name ${role.service}`;

/** The roles that do not exist. Throws on any other answer than "no such role" (e.g. no permission to check). */
export async function missingServiceLinkedRoles(iam: Pick<IAMClient, 'send'>, roles = SERVICE_LINKED_ROLES): Promise<ServiceLinkedRole[]> {
  const missing: ServiceLinkedRole[] = [];
  for (const role of roles) {
    try {
      await iam.send(new GetRoleCommand({ RoleName: role.roleName }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'NoSuchEntityException') {
        throw new Error(`cannot check ${role.roleName}: ${(err as Error).name}: ${(err as Error).message}`);
      }
      missing.push(role);
    }
  }
  return missing;
}

/** The report and exit code for the roles found missing. */
export function report(missing: readonly ServiceLinkedRole[]): { text: string; exitCode: number } {
  if (missing.length === 0) {
    return {
      text: `predeploy-check: the service-linked roles exist (${SERVICE_LINKED_ROLES.map((r) => r.roleName).join(', ')}).`,
      exitCode: 0,
    };
  }
  const lines = [
    'predeploy-check: this account lacks service-linked roles the stack needs; the first deploy would fail. Create them once:',
    '',
    ...missing.map((r) => `  ${createCommand(r)}    # ${r.roleName}: ${r.neededFor}`),
    '',
    'then run the deploy again.',
  ];
  return { text: lines.join('\n'), exitCode: 1 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const { text, exitCode } = report(await missingServiceLinkedRoles(new IAMClient({})));
    (exitCode === 0 ? console.log : console.error)(text);
    process.exitCode = exitCode;
  } catch (err) {
    console.error(`predeploy-check: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
