/**
 * Checks, before the first `cdk deploy` into an account, what would make it fail half-way: the
 * service-linked roles the stack needs (prints the commands that create the missing ones), and the
 * account's Lambda concurrency against a predict reservation (`-c predictReservedConcurrency=N`).
 *
 *   npm run predeploy-check                      # exit 0: all fine; 1: something to fix (printed); 2: could not check
 *   npm run predeploy-check -- --reserved 10     # also: would reserving 10 for predict fit the account?
 *
 * Why a check and not a stack resource: `AWS::IAM::ServiceLinkedRole` fails the deploy when the role
 * already exists, which it does in most accounts that have used ECS; and a custom resource that
 * creates it would add a Lambda function and an IAM role to the stack for a one-time step. Creating
 * the ECS cluster makes ECS create its role, but not always before CloudFormation creates the service
 * (aws-cdk#4108).
 */
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

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

/** Lambda keeps this much of an account's concurrency unreserved; a reservation may not go below it. */
export const LAMBDA_MIN_UNRESERVED = 100;
/** The Service Quotas code of Lambda's "Concurrent executions" quota. */
export const LAMBDA_CONCURRENCY_QUOTA = 'L-B99A9384';

export interface LambdaConcurrency {
  /** The account's concurrency quota in this region. */
  limit: number;
  /** What no function has reserved. */
  unreserved: number;
}

/** The account's Lambda concurrency in the client's region. */
export async function lambdaConcurrency(lambda: Pick<LambdaClient, 'send'>): Promise<LambdaConcurrency> {
  const out = await lambda.send(new GetAccountSettingsCommand({}));
  const limit = out.AccountLimit?.ConcurrentExecutions;
  const unreserved = out.AccountLimit?.UnreservedConcurrentExecutions;
  if (limit === undefined || unreserved === undefined) throw new Error('lambda:GetAccountSettings returned no concurrency limits');
  return { limit, unreserved };
}

/** Whether reserving `reserved` for the predict function fits the account, and what to do if not. */
export function concurrencyReport(c: LambdaConcurrency, reserved: number | undefined): { text: string; exitCode: number } {
  const quota = `Lambda concurrency: the account's quota is ${c.limit}, of which ${c.unreserved} is unreserved`;
  if (!reserved) {
    return {
      text: `predeploy-check: ${quota}. The stack reserves none by default; a reservation caps the predict function's spend (-c predictReservedConcurrency=N, README "Deploying to AWS").`,
      exitCode: 0,
    };
  }
  const left = c.unreserved - reserved;
  if (left >= LAMBDA_MIN_UNRESERVED) {
    return {
      text: `predeploy-check: ${quota}; reserving ${reserved} for predict leaves ${left} (Lambda needs ${LAMBDA_MIN_UNRESERVED}).`,
      exitCode: 0,
    };
  }
  const needed = c.limit + (LAMBDA_MIN_UNRESERVED - left);
  return {
    text: [
      `predeploy-check: ${quota}; reserving ${reserved} for predict would leave ${left}, below the ${LAMBDA_MIN_UNRESERVED} Lambda keeps unreserved, so the deploy would fail.`,
      'Either deploy without the reservation (drop -c predictReservedConcurrency; API Gateway throttling still caps requests), or ask for more concurrency first:',
      `  aws service-quotas request-service-quota-increase --service-code lambda --quota-code ${LAMBDA_CONCURRENCY_QUOTA} --desired-value ${Math.max(needed, 1000)}`,
    ].join('\n'),
    exitCode: 1,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const { values } = parseArgs({ options: { reserved: { type: 'string' } } });
    const reserved = values.reserved === undefined ? undefined : Number(values.reserved);
    if (reserved !== undefined && !(Number.isInteger(reserved) && reserved >= 0))
      throw new Error(`--reserved ${values.reserved}: not a whole number`);
    const reports = [
      report(await missingServiceLinkedRoles(new IAMClient({}))),
      concurrencyReport(await lambdaConcurrency(new LambdaClient({})), reserved),
    ];
    for (const { text, exitCode } of reports) (exitCode === 0 ? console.log : console.error)(text);
    process.exitCode = Math.max(...reports.map((r) => r.exitCode));
  } catch (err) {
    console.error(`predeploy-check: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}
