/** REST API for jobs and models, and the web page: the `api` routes of shared/routes.ts. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { makeEcsClient, makeS3Client, makeSqsClient } from '../../shared/aws';
import { COMMON_HEADERS, errorResponse, HttpError, json, parseJsonBody } from '../../shared/http';
import { makeLogger } from '../../shared/log';
import { Bucket } from '../../shared/s3-objects';
import { describeRoutes, matchRoute, routeKey, type RouteKeyOf } from '../../shared/routes';
import { TrainingParams } from '../../shared/schemas';
import { callerIdentity } from './caller';
import { readApiConfig } from './config';
import { JobsApi, PromoteRequest, RollbackRequest } from './jobs-api';
import { PAGE_HEADERS as PAGE_SECURITY_HEADERS, PAGE_HTML } from './page';
import { SweepsApi } from './sweeps-api';
import { BatchPredictionsApi } from './batch-api';
import { BatchPredictRequest } from '../../shared/batch-predict';
import { SweepRequest } from '../../shared/sweep';
import { readSummary } from './summary';
import { type TrainerService, wakeTrainer } from './wake-trainer';

const logger = makeLogger('api');
let api: JobsApi | undefined;
let bucket: Bucket | undefined;
let trainer: TrainerService | undefined;
let sweeps: SweepsApi | undefined;
const getSweeps = (api: JobsApi) => (sweeps ??= new SweepsApi(bucket!, api));
let batches: BatchPredictionsApi | undefined;
const getBatches = () => (batches ??= new BatchPredictionsApi(bucket!, makeSqsClient(), readApiConfig().QUEUE_URL));

function getApi(): JobsApi {
  if (!api) {
    const config = readApiConfig();
    bucket = new Bucket(makeS3Client(), config.BUCKET_NAME);
    api = new JobsApi(bucket, makeSqsClient(), config.QUEUE_URL, { minAccuracy: config.PROMOTION_MIN_ACCURACY });
    if (config.TRAINER_CLUSTER && config.TRAINER_SERVICE) trainer = { cluster: config.TRAINER_CLUSTER, service: config.TRAINER_SERVICE };
  }
  return api;
}

/** The job is queued whatever happens here: scaling on queue depth still starts a task, later. */
async function startTrainer(jobId: string): Promise<void> {
  try {
    const result = await wakeTrainer(makeEcsClient(), trainer);
    if (result === 'started') logger.info('started a trainer task (desired count 0 -> 1)', { jobId });
  } catch (err) {
    logger.warn('could not start a trainer task; the queue-depth alarm will', { jobId, error: String(err) });
  }
}

export async function handler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  // Every log line of this invocation carries its request id and cold-start flag.
  if (context) logger.addContext(context);
  try {
    return await route(event);
  } catch (err) {
    return errorResponse(err, (msg, extra) => logger.error(msg, { ...extra, path: event.path }));
  }
}

const PAGE_HEADERS = { ...COMMON_HEADERS, ...PAGE_SECURITY_HEADERS };
// Mutating routes take JSON only: a cross-site form (text/plain, no preflight) gets a 415.
const JSON_ONLY = { requireJsonContentType: true };
const FORCE_HINT = 'To serve a model over a better one, POST /models/promote/force (needs the ModelAdmin policy).';

type Handler = (event: APIGatewayProxyEvent, params: Record<string, string>, api: JobsApi) => Promise<APIGatewayProxyResult>;

/** One implementation per api route of shared/routes.ts; the type makes a missing one a compile error. */
const HANDLERS: Record<RouteKeyOf<'api'>, Handler> = {
  'GET /': async () => ({ statusCode: 200, headers: PAGE_HEADERS, body: PAGE_HTML }),
  // Polled by every open page; no-store so a running job's progress is never served stale.
  'GET /summary': async () => json(200, await readSummary(bucket!), { 'cache-control': 'no-store' }),
  'POST /jobs': async (event, _params, api) => {
    const status = await api.submit(parseJsonBody(event, TrainingParams, '', JSON_ONLY));
    logger.info('job submitted', { jobId: status.jobId, params: status.params });
    await startTrainer(status.jobId);
    return json(202, status);
  },
  'GET /jobs': async (event, _params, api) => {
    const { limit, next } = event.queryStringParameters ?? {};
    return json(200, await api.listJobs({ limit, next }));
  },
  'GET /jobs/{id}': async (event, params, api) => json(200, await api.status(event.pathParameters?.id ?? params.id)),
  // 200 once CANCELLED (a queued job); 202 while a running job's trainer has yet to stop it.
  'POST /jobs/{id}/cancel': async (event, params, api) => {
    const by = callerIdentity(event);
    const status = await api.cancel(event.pathParameters?.id ?? params.id, by);
    logger.info('job cancel requested', { jobId: status.jobId, status: status.status, by });
    return json(status.status === 'CANCELLED' ? 200 : 202, status);
  },
  // Every variant is queued before the answer; one trainer wake-up, as for one job (scaling on queue depth adds the rest).
  'POST /sweeps': async (event, _params, api) => {
    const sweep = await getSweeps(api).submit(parseJsonBody(event, SweepRequest, '', JSON_ONLY));
    logger.info('sweep submitted', { sweepId: sweep.sweepId, jobs: sweep.ranking.length, promote: sweep.promote });
    await startTrainer(sweep.sweepId);
    return json(202, sweep);
  },
  'GET /sweeps/{id}': async (event, params, api) => json(200, await getSweeps(api).status(event.pathParameters?.id ?? params.id)),
  // 200 once every job it cancelled has ended; 202 while a running one has yet to stop at its next batch.
  'POST /sweeps/{id}/cancel': async (event, params, api) => {
    const by = callerIdentity(event);
    const sweep = await getSweeps(api).cancel(event.pathParameters?.id ?? params.id, by);
    logger.info('sweep cancel requested', { sweepId: sweep.sweepId, jobs: sweep.cancel?.jobIds.length, done: sweep.done, by });
    return json(sweep.done ? 200 : 202, sweep);
  },
  'POST /batch-predictions': async (event) => {
    const status = await getBatches().submit(parseJsonBody(event, BatchPredictRequest, '', JSON_ONLY));
    logger.info('batch prediction submitted', { jobId: status.jobId, batch: status.batch });
    await startTrainer(status.jobId);
    return json(202, status);
  },
  'GET /models': async (_event, _params, api) => json(200, await api.listModels()),
  // The URLs expire in minutes: never cached.
  'GET /models/{id}/download': async (event, params, api) =>
    json(200, await api.download(event.pathParameters?.id ?? params.id), { 'cache-control': 'no-store' }),
  'POST /models/promote': async (event, _params, api) => {
    const pointer = await api.promote(parseJsonBody(event, PromoteRequest, FORCE_HINT, JSON_ONLY), false, callerIdentity(event));
    logger.info('model promoted', { ...pointer });
    return json(200, pointer);
  },
  // IAM lets only ModelAdmin callers reach this route; the threshold still applies.
  'POST /models/promote/force': async (event, _params, api) => {
    const pointer = await api.promote(parseJsonBody(event, PromoteRequest, '', JSON_ONLY), true, callerIdentity(event));
    logger.info('model promoted by force', { ...pointer });
    return json(200, pointer);
  },
  'GET /models/history': async (event, _params, api) => {
    const { limit, next } = event.queryStringParameters ?? {};
    return json(200, await api.history({ limit, next }));
  },
  // An empty body rolls back to the model served before the current one.
  'POST /models/rollback': async (event, _params, api) => {
    const request = event.body ? parseJsonBody(event, RollbackRequest, '', JSON_ONLY) : {};
    const pointer = await api.rollback(request, callerIdentity(event));
    logger.info('served model rolled back', { ...pointer });
    return json(200, pointer);
  },
};

async function route(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const method = event.httpMethod;
  const path = (event.resource && !event.resource.includes('{proxy') ? event.resource : event.path).replace(/\/+$/, '') || '/';
  const api = getApi();
  const found = matchRoute(method, path);
  const handle = found?.route.target === 'api' ? HANDLERS[routeKey(found.route) as RouteKeyOf<'api'>] : undefined;
  if (!found || !handle) throw new HttpError(404, `No route ${method} ${event.path}. Routes: ${describeRoutes()}.`);
  return handle(event, found.params, api);
}
