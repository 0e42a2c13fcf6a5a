import { createHash, createHmac } from 'node:crypto';
import { CloudFormationClient, DescribeStacksCommand, type DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import type { TrainingParamsInput } from '../shared/schemas';
import { emulatorApiUrl, STACK_NAME, StackOutput } from '../shared/stack';
import { matchRoute } from '../shared/routes';
import type { SweepRequestInput } from '../shared/sweep';
import type { SweepView } from '../functions/api/sweeps-api';
import type { JobStatus, LatestModel, ServedModelChange } from '../shared/documents';

/** An error the API answered with; its message is the API's own `error` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface Prediction {
  digit: number;
  probabilities: number[];
}

export interface ModelList {
  latest: LatestModel | null;
  models: { jobId: string; epoch: number; testAccuracy?: number; backend: string; createdAt: string; latest: boolean }[];
}

/** SHA-256 (and HMAC-SHA-256 with a secret) from node:crypto, in the shape the SigV4 signer takes. */
class NodeSha256 implements Checksum {
  private hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    throw new Error('not needed by the signer');
  }
}
const toBuffer = (d: SourceData) =>
  typeof d === 'string'
    ? Buffer.from(d, 'utf8')
    : ArrayBuffer.isView(d)
      ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(d);

/** The region of an execute-api URL (`<id>.execute-api.<region>.amazonaws.com`), else AWS_REGION. */
export function apiRegion(url: string, env: NodeJS.ProcessEnv = process.env): string {
  const region = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(new URL(url).hostname)?.[1] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  // Signing needs the region: without one the request cannot be authorised (exit code 4).
  if (!region) throw new ApiError(0, `Cannot tell the API's region from ${url}; set AWS_REGION.`);
  return region;
}

export interface ApiClientOptions {
  /**
   * Credentials that sign every request (SigV4, service execute-api). Default: the SDK's default
   * chain (environment, shared config/SSO, container or instance role). `false`: send unsigned.
   */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider | false;
  /** Default: from the URL, else AWS_REGION. */
  region?: string;
}

/** A typed client for the REST API, the same against AWS and the local emulator. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly signer?: SignatureV4;

  constructor(baseUrl: string, opts: ApiClientOptions = {}) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    if (opts.credentials !== false) {
      // The chain is read on the first call, so a public command (predict) works without credentials... until it signs.
      this.signer = new SignatureV4({
        service: 'execute-api',
        region: opts.region ?? apiRegion(this.baseUrl),
        credentials: opts.credentials ?? defaultProvider(),
        sha256: NodeSha256,
      });
    }
  }

  submit(params: TrainingParamsInput): Promise<JobStatus> {
    return this.call('POST', 'jobs', params);
  }

  job(jobId: string): Promise<JobStatus> {
    return this.call('GET', `jobs/${encodeURIComponent(jobId)}`);
  }

  /** Cancels a queued job at once (CANCELLED) or asks its trainer to stop it (RUNNING, with cancelRequested). */
  cancel(jobId: string): Promise<JobStatus> {
    return this.call('POST', `jobs/${encodeURIComponent(jobId)}/cancel`, {});
  }

  /** A page of jobs, newest first; pass `next` from the previous page for the one after. */
  jobs(opts: { limit?: number; next?: string } = {}): Promise<{ jobs: JobStatus[]; next?: string }> {
    const query = new URLSearchParams();
    if (opts.limit !== undefined) query.set('limit', String(opts.limit));
    if (opts.next !== undefined) query.set('next', opts.next);
    return this.call('GET', query.size ? `jobs?${query}` : 'jobs');
  }

  models(): Promise<ModelList> {
    return this.call('GET', 'models');
  }

  /** Queues one job per variant of a grid or list (POST /sweeps). */
  sweep(request: SweepRequestInput): Promise<SweepView> {
    return this.call('POST', 'sweeps', request);
  }

  /** A sweep with each variant's job, ranked. */
  sweepStatus(sweepId: string): Promise<SweepView> {
    return this.call('GET', `sweeps/${encodeURIComponent(sweepId)}`);
  }

  /** Cancels every job of the sweep that has not finished; nothing of it is promoted afterwards. */
  sweepCancel(sweepId: string): Promise<SweepView> {
    return this.call('POST', `sweeps/${encodeURIComponent(sweepId)}/cancel`, {});
  }

  /** `force` (serve it even if the served model is better) needs the ModelAdmin policy. */
  promote(jobId: string, force = false): Promise<LatestModel> {
    return this.call('POST', force ? 'models/promote/force' : 'models/promote', { jobId });
  }

  /** A page of served-model changes, newest first; pass `next` from the previous page for the one after. */
  history(opts: { limit?: number; next?: string } = {}): Promise<{ changes: ServedModelChange[]; next?: string }> {
    const query = new URLSearchParams();
    if (opts.limit !== undefined) query.set('limit', String(opts.limit));
    if (opts.next !== undefined) query.set('next', opts.next);
    return this.call('GET', query.size ? `models/history?${query}` : 'models/history');
  }

  /** Serves the model served before the current one, or the earlier one `jobId`; needs the ModelAdmin policy. */
  rollback(jobId?: string): Promise<LatestModel> {
    return this.call('POST', 'models/rollback', jobId === undefined ? {} : { jobId });
  }

  predict<T = Prediction & { model: { jobId: string; epoch: number } }>(body: unknown): Promise<T> {
    return this.call('POST', 'predict', body);
  }

  /** Sends a PNG or JPEG file as the raw body: a third smaller than base64 in JSON, and nothing to encode. */
  predictImage<T = Prediction & { model: { jobId: string; epoch: number } }>(
    bytes: Uint8Array,
    contentType: 'image/png' | 'image/jpeg',
  ): Promise<T> {
    return this.call('POST', 'predict', { raw: bytes, contentType });
  }

  /** Headers for a request, signed when the client has credentials. */
  async headers(method: string, url: string, body?: string): Promise<Record<string, string>> {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    const u = new URL(url);
    // Public routes go unsigned, so predicting needs no AWS credentials.
    const route = matchRoute(method, '/' + u.href.slice(this.baseUrl.length).split('?')[0]);
    if (!this.signer || route?.route.auth === 'none') return headers;
    let signed: Awaited<ReturnType<SignatureV4['sign']>>;
    try {
      signed = await this.signer.sign({
        method,
        protocol: u.protocol,
        hostname: u.hostname,
        port: u.port ? Number(u.port) : undefined,
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        headers: { ...headers, host: u.host },
        body,
      });
    } catch (err) {
      throw new ApiError(
        0,
        `Cannot sign the request: no AWS credentials (${(err as Error).message}). Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.`,
      );
    }
    // fetch sets Host itself (the same value).
    const { host: _host, ...rest } = signed.headers;
    return rest;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    const url = this.baseUrl + path;
    const raw =
      body instanceof Object && 'raw' in body && (body as { raw: unknown }).raw instanceof Uint8Array
        ? (body as { raw: Uint8Array; contentType: string })
        : undefined;
    // Raw images go only to the public POST /predict, so they are never signed.
    const text = body === undefined || raw ? undefined : JSON.stringify(body);
    const headers = raw ? { 'content-type': raw.contentType } : await this.headers(method, url, text);
    try {
      res = await fetch(url, { method, headers, body: raw ? new Uint8Array(raw.raw) : text, signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new ApiError(
        0,
        `Cannot reach the API at ${this.baseUrl} (${(err as Error).cause ?? (err as Error).message}). Is the stack deployed and the emulator running?`,
      );
    }
    const answer = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer);
    } catch {
      throw new ApiError(res.status, `The API answered HTTP ${res.status} with a body that is not JSON: ${answer.slice(0, 200)}`);
    }
    if (!res.ok) {
      // API Gateway's own IAM refusals carry `message`, the handlers' errors `error`.
      const { error, message, Message, details } = parsed as { error?: string; message?: string; Message?: string; details?: unknown };
      throw new ApiError(res.status, error ?? message ?? Message ?? `HTTP ${res.status}`, details);
    }
    return parsed as T;
  }
}

/**
 * Finds the API URL: an explicit one, else $LENET_API_URL, else the stack's `ApiUrl` output
 * (CloudFormation on AWS, or on the emulator when AWS_ENDPOINT_URL is set).
 */
export async function resolveApiUrl(explicit?: string, stackName = process.env.LENET_STACK ?? STACK_NAME): Promise<string> {
  if (explicit) return explicit;
  if (process.env.LENET_API_URL) return process.env.LENET_API_URL;
  let outputs: NonNullable<NonNullable<DescribeStacksCommandOutput['Stacks']>[number]['Outputs']>;
  try {
    const out = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = out.Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    throw new ApiError(
      0,
      `Cannot find the API URL: reading stack ${stackName} failed (${(err as Error).message}). Pass --api-url or set LENET_API_URL.`,
    );
  }
  const url = outputs.find((o) => o.OutputKey === StackOutput.ApiUrl)?.OutputValue;
  if (!url) throw new ApiError(404, `Stack ${stackName} has no ApiUrl output. Pass --api-url or set LENET_API_URL.`);
  return process.env.AWS_ENDPOINT_URL ? emulatorApiUrl(url, process.env.AWS_ENDPOINT_URL) : url;
}
