/** REST API for jobs and models, and the web page: GET /, GET /jobs, POST /jobs, GET /jobs/{id}, GET /models, POST /models/promote. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { makeS3Client, makeSqsClient, requireEnv } from '../../shared/aws';
import { errorResponse, HttpError, json, parseJsonBody } from '../../shared/http';
import { makeLogger } from '../../shared/log';
import { DEFAULT_MIN_ACCURACY } from '../../shared/promotion';
import { Bucket } from '../../shared/s3-objects';
import { TrainingParams } from '../../shared/schemas';
import { JobsApi, PromoteRequest } from './jobs-api';
import { PAGE_HTML } from './page';

const logger = makeLogger('api');
let api: JobsApi | undefined;

function getApi(): JobsApi {
  api ??= new JobsApi(new Bucket(makeS3Client(), requireEnv('BUCKET_NAME')), makeSqsClient(), requireEnv('QUEUE_URL'), {
    minAccuracy: Number(process.env.PROMOTION_MIN_ACCURACY ?? DEFAULT_MIN_ACCURACY),
  });
  return api;
}

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  try {
    return await route(event);
  } catch (err) {
    return errorResponse(err, (msg, extra) => logger.error(msg, { ...extra, path: event.path }));
  }
}

async function route(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const method = event.httpMethod;
  const path = (event.resource && !event.resource.includes('{proxy') ? event.resource : event.path).replace(/\/+$/, '') || '/';
  const api = getApi();
  if (method === 'GET' && path === '/') {
    return { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: PAGE_HTML };
  }
  if (method === 'POST' && path === '/jobs') {
    const status = await api.submit(parseJsonBody(event, TrainingParams));
    logger.info('job submitted', { jobId: status.jobId, params: status.params });
    return json(202, status);
  }
  if (method === 'GET' && path === '/jobs') return json(200, { jobs: await api.listJobs() });
  if (method === 'GET' && (path === '/jobs/{id}' || path.startsWith('/jobs/'))) {
    const id = event.pathParameters?.id ?? decodeURIComponent(path.slice('/jobs/'.length));
    return json(200, await api.status(id));
  }
  if (method === 'GET' && path === '/models') return json(200, await api.listModels());
  if (method === 'POST' && path === '/models/promote') {
    const pointer = await api.promote(parseJsonBody(event, PromoteRequest));
    logger.info('model promoted', { ...pointer });
    return json(200, pointer);
  }
  throw new HttpError(404, `No route ${method} ${event.path}. Routes: GET /, GET /jobs, POST /jobs, GET /jobs/{id}, GET /models, POST /models/promote, POST /predict.`);
}
