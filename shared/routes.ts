/**
 * The REST API's routes, in one table: infra/service-api.ts creates the API Gateway resources and
 * methods from it, and functions/api/handler.ts dispatches (and lists routes in its 404) from it.
 * The README's route table must match (test/unit/routes.test.ts checks it).
 */

/** The Lambda function that serves a route. */
export type RouteTarget = 'predict' | 'api';

export interface Route {
  readonly method: 'GET' | 'POST';
  /** API Gateway path template, `{name}` for a path parameter. */
  readonly path: string;
  readonly target: RouteTarget;
  /** 'none': open to anyone (the page, predictions); 'iam': SigV4-signed callers only. */
  readonly auth: 'none' | 'iam';
  /**
   * For 'iam' routes: the least managed policy that may invoke it. 'operator' (JobsOperator:
   * submit and cancel jobs, read jobs and models, download a model, promote a better model, read the served-model history) or 'admin' (ModelAdmin: also force and roll back).
   */
  readonly role?: 'operator' | 'admin';
  /** Per-route API Gateway throttling; the stage-wide limit applies when absent. */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

// Throttles: job submission starts Fargate work, so it is the lowest; promotion is rare; reads
// are what the page and `lenet status --watch` poll.
const READS = { rateLimit: 10, burstLimit: 20 } as const;
const RARE_WRITES = { rateLimit: 1, burstLimit: 2 } as const;

export const ROUTES = [
  { method: 'GET', path: '/', target: 'api', auth: 'none', throttle: { rateLimit: 20, burstLimit: 40 } },
  // Public: the served model's card and the newest job's progress, never parameters or errors.
  { method: 'GET', path: '/summary', target: 'api', auth: 'none', throttle: { rateLimit: 20, burstLimit: 40 } },
  { method: 'GET', path: '/jobs', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  { method: 'POST', path: '/jobs', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  { method: 'GET', path: '/jobs/{id}', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  // Stops a queued or running job; the job ends CANCELLED (its checkpoints stay).
  { method: 'POST', path: '/jobs/{id}/cancel', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  // A batch prediction over images in the bucket's batch area: a job on the trainer service.
  { method: 'POST', path: '/batch-predictions', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  { method: 'GET', path: '/models', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  // Presigned S3 URLs of a finished model's files: the bytes never pass through the Lambda.
  { method: 'GET', path: '/models/{id}/download', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  { method: 'POST', path: '/models/promote', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  // IAM authorizes per method and path, so the administrator's override is a route of its own.
  { method: 'POST', path: '/models/promote/force', target: 'api', auth: 'iam', role: 'admin', throttle: RARE_WRITES },
  // Every change of the served model, newest first: from, to, when, who, why.
  { method: 'GET', path: '/models/history', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  // Serves an earlier model again, perhaps a less accurate one: an administrator's call, like force.
  { method: 'POST', path: '/models/rollback', target: 'api', auth: 'iam', role: 'admin', throttle: RARE_WRITES },
  // A sweep queues up to SWEEP_MAX_VARIANTS jobs at once (shared/sweep.ts): throttled like one job submission.
  { method: 'POST', path: '/sweeps', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  { method: 'GET', path: '/sweeps/{id}', target: 'api', auth: 'iam', role: 'operator', throttle: READS },
  // Cancels every job of the sweep that has not finished (as POST /jobs/{id}/cancel); no winner is promoted after.
  { method: 'POST', path: '/sweeps/{id}/cancel', target: 'api', auth: 'iam', role: 'operator', throttle: RARE_WRITES },
  { method: 'POST', path: '/predict', target: 'predict', auth: 'none', throttle: { rateLimit: 50, burstLimit: 100 } },
] as const satisfies readonly Route[];

export type RouteKey = `${(typeof ROUTES)[number]['method']} ${(typeof ROUTES)[number]['path']}`;
/** The routes one function serves, as "METHOD /path" keys. */
export type RouteKeyOf<T extends RouteTarget> =
  Extract<(typeof ROUTES)[number], { target: T }> extends infer R
    ? R extends { method: string; path: string }
      ? `${R['method']} ${R['path']}`
      : never
    : never;

export const routeKey = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`;

/** Every route as "METHOD /path", in table order (for error messages). */
export const describeRoutes = () => ROUTES.map(routeKey).join(', ');

/**
 * The route a request matches, with its path parameters. `path` may be the concrete path
 * (`/jobs/abc`) or API Gateway's resource template (`/jobs/{id}`).
 */
export function matchRoute(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
  const parts = path.split('/').filter(Boolean);
  for (const route of ROUTES as readonly Route[]) {
    if (route.method !== method) continue;
    const template = route.path.split('/').filter(Boolean);
    if (template.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = template.every((t, i) => {
      if (!t.startsWith('{')) return t === parts[i];
      params[t.slice(1, -1)] = decodeURIComponent(parts[i]);
      return true;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/** Content types POST /predict accepts. */
export const JSON_MEDIA_TYPE = 'application/json';
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg'] as const;
export const MULTIPART_MEDIA_TYPE = 'multipart/form-data';
/**
 * What API Gateway must pass to the function as base64 (REST API `binaryMediaTypes`): raw image
 * bodies and multipart forms. JSON stays text.
 */
export const BINARY_MEDIA_TYPES = [...IMAGE_MEDIA_TYPES, MULTIPART_MEDIA_TYPE];
