/**
 * Who may do what: the bucket statements of each role, by key prefix from shared/bucket-layout.ts,
 * and the managed policies operators attach to people, from the route table. No role may delete
 * object versions (versioning is the bucket's undo), and none deletes objects at all.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { DEFAULT_DATASET_PREFIX, modelKeys, PREFIXES, servedModelHistoryKeys } from '../shared/bucket-layout';
import { ROUTES, type Route } from '../shared/routes';
import { arnRef, type NagAck } from './nag';

export type BucketRole = 'predict' | 'api' | 'trainer' | 'batch';

/**
 * What each role reads, writes and lists, as key patterns. There is deliberately no delete: leases
 * end with a conditional PUT, checkpoints expire by lifecycle rule, and versions are the undo.
 * `list` names only prefixes listed but not read: every prefix a role reads it may also list (below).
 * `create` are PUTs with If-None-Match only (S3's s3:if-none-match condition key): new keys, no overwrite.
 */
export const BUCKET_ACCESS: Record<BucketRole, { get: string[]; put: string[]; list: string[]; create?: string[] }> = {
  // The served-model pointer and the models it points to.
  predict: { get: [`${PREFIXES.models}*`], put: [], list: [] },
  api: {
    get: [`${PREFIXES.jobs}*`, `${PREFIXES.models}*`, `${PREFIXES.datasets}*`, `${PREFIXES.sweeps}*`],
    // sweeps/*.json: the sweep documents only, not the trainer's promotion claim and outcome.
    put: [`${PREFIXES.jobs}*`, `${PREFIXES.jobsIndex}*`, modelKeys.latest, `${PREFIXES.sweeps}*.json`, `${PREFIXES.sweepsIndex}*`],
    // Served-model history entries are created once and never rewritten (shared/served-model-history.ts);
    // so is a sweep's cancel record (POST /sweeps/{id}/cancel): the first caller and time stay; and the
    // cancel takes the sweep's promotion claim, the one key it and the last trainer race for.
    create: [`${servedModelHistoryKeys.prefix}*`, `${PREFIXES.sweeps}*.cancel`, `${PREFIXES.sweeps}*.promotion`],
    // batch/: POST /batch-predictions counts the objects under an input prefix; it reads none of them.
    // sweeps-index/: GET /summary lists one entry to find the newest sweep.
    list: [PREFIXES.jobsIndex, PREFIXES.batch, PREFIXES.sweepsIndex],
  },
  trainer: {
    get: [`${PREFIXES.datasets}*`, `${PREFIXES.jobs}*`, `${PREFIXES.checkpoints}*`, `${PREFIXES.models}*`, `${PREFIXES.sweeps}*`],
    // jobs-index/: a job that reaches the queue without the API is indexed by the trainer.
    put: [`${PREFIXES.jobs}*`, `${PREFIXES.jobsIndex}*`, `${PREFIXES.checkpoints}*`, `${PREFIXES.models}*`],
    // The trainer seeds MNIST at the default prefix (functions/trainer/lifecycle/seed-dataset.ts): create only, never overwrite.
    // And a finished sweep's promotion claim and outcome (lifecycle/sweep-promotion.ts): the claim is what makes it happen once.
    create: [`${DEFAULT_DATASET_PREFIX}*`, `${PREFIXES.sweeps}*.promotion`, `${PREFIXES.sweeps}*.promoted`],
    list: [],
  },
  // Batch prediction's role, assumed by the trainer per batch job with a session policy that narrows
  // it to that job's input prefix (read) and output prefix (write): shared/batch-predict.ts.
  batch: { get: [`${PREFIXES.batch}*`], put: [`${PREFIXES.batch}*`], list: [] },
};

/** The statements of one role on the bucket: object actions per key pattern, listing per prefix. */
export function bucketStatements(bucket: s3.IBucket, role: BucketRole): iam.PolicyStatement[] {
  const a = BUCKET_ACCESS[role];
  const objects = (patterns: string[]) => patterns.map((p) => bucket.arnForObjects(p));
  const statements: iam.PolicyStatement[] = [];
  if (a.get.length) statements.push(new iam.PolicyStatement({ sid: 'Read', actions: ['s3:GetObject'], resources: objects(a.get) }));
  if (a.put.length) statements.push(new iam.PolicyStatement({ sid: 'Write', actions: ['s3:PutObject'], resources: objects(a.put) }));
  // A PUT without If-None-Match is refused: this statement creates missing keys and can replace nothing.
  if (a.create?.length) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'Create',
        actions: ['s3:PutObject'],
        resources: objects(a.create),
        conditions: { Null: { 's3:if-none-match': 'false' } },
      }),
    );
  }
  // S3 answers a GET of a missing key with 403 instead of 404 unless the caller may ListBucket, and
  // every role reads keys that may be missing (a new job's final-model marker, the first served-model
  // pointer, an unknown job id): so each may list the prefixes it reads. Emulators answer 404 regardless.
  const listed = [...new Set([...a.list, ...a.get.map((p) => p.replace(/\*$/, ''))])];
  if (listed.length) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'List',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': listed.map((p) => `${p}*`) } },
      }),
    );
  }
  return statements;
}

/**
 * The cdk-nag acknowledgements (AwsSolutions-IAM5) for a role's prefix wildcards, from the same
 * table, so a prefix added above needs no second list.
 */
export function bucketWildcardAcks(bucket: s3.IBucket, role: BucketRole): NagAck[] {
  const a = BUCKET_ACCESS[role];
  const wildcards = [...new Set([...a.get, ...a.put, ...(a.create ?? [])].filter((p) => p.includes('*')))];
  return wildcards.map((p) => ({
    id: `AwsSolutions-IAM5[Resource::${arnRef(bucket)}/${p}]`,
    reason: 'Every object under one key prefix of the data bucket (infra/access.ts); keys carry job ids not known in advance.',
  }));
}

/** Adds a role's bucket statements to a principal. */
export function grantBucketAccess(bucket: s3.IBucket, role: BucketRole, grantee: iam.IGrantable): void {
  for (const statement of bucketStatements(bucket, role)) grantee.grantPrincipal.addToPrincipalPolicy(statement);
}

/** execute-api:Invoke ARNs of the IAM routes a managed policy covers ('admin' includes 'operator'). */
export function invokeArns(api: apigw.RestApi, stageName: string, level: 'operator' | 'admin'): string[] {
  const routes = (ROUTES as readonly Route[]).filter((r) => r.auth === 'iam' && (level === 'admin' || r.role === 'operator'));
  // A path parameter matches one path segment's worth of characters; IAM has only '*'.
  return routes.map((r) => api.arnForExecuteApi(r.method, r.path.replace(/\{[^}]+\}/g, '*'), stageName));
}

/** The managed policies to attach to people: JobsOperator and ModelAdmin. */
export function operatorPolicies(scope: import('constructs').Construct, api: apigw.RestApi, stageName: string) {
  const stack = Stack.of(scope);
  const make = (id: string, level: 'operator' | 'admin', description: string) =>
    new iam.ManagedPolicy(scope, id, {
      description: `${stack.stackName}: ${description}`,
      statements: [new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources: invokeArns(api, stageName, level) })],
    });
  return {
    operator: make('JobsOperatorPolicy', 'operator', 'submit and read training jobs, list models, promote a better model'),
    admin: make('ModelAdminPolicy', 'admin', 'JobsOperator, plus serving a model over a better one (POST /models/promote/force)'),
  };
}
