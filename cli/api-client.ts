import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { JobStatus, LatestModel, TrainingParams } from '../shared/schemas';
import { localApiUrl } from '../local/emulator';

/** An error the API answered with; its message is the API's own `error` text. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly details?: unknown) {
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

/** A typed client for the REST API, the same against AWS and the local emulator. */
export class ApiClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  }

  submit(params: Partial<TrainingParams>): Promise<JobStatus> {
    return this.call('POST', 'jobs', params);
  }

  job(jobId: string): Promise<JobStatus> {
    return this.call('GET', `jobs/${encodeURIComponent(jobId)}`);
  }

  jobs(): Promise<{ jobs: JobStatus[] }> {
    return this.call('GET', 'jobs');
  }

  models(): Promise<ModelList> {
    return this.call('GET', 'models');
  }

  promote(jobId: string, force = false): Promise<LatestModel> {
    return this.call('POST', 'models/promote', { jobId, force });
  }

  predict<T = Prediction & { model: { jobId: string; epoch: number } }>(body: unknown): Promise<T> {
    return this.call('POST', 'predict', body);
  }

  /** Sends a PNG or JPEG file as the raw body: a third smaller than base64 in JSON, and nothing to encode. */
  predictImage<T = Prediction & { model: { jobId: string; epoch: number } }>(bytes: Uint8Array, contentType: 'image/png' | 'image/jpeg'): Promise<T> {
    return this.call('POST', 'predict', { raw: bytes, contentType });
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    const raw = body instanceof Object && 'raw' in body && (body as { raw: unknown }).raw instanceof Uint8Array ? (body as { raw: Uint8Array; contentType: string }) : undefined;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': raw?.contentType ?? 'application/json' },
        body: body === undefined ? undefined : raw ? new Uint8Array(raw.raw) : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new ApiError(0, `Cannot reach the API at ${this.baseUrl} (${(err as Error).cause ?? (err as Error).message}). Is the stack deployed and the emulator running?`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, `The API answered HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const { error, details } = parsed as { error?: string; details?: unknown };
      throw new ApiError(res.status, error ?? `HTTP ${res.status}`, details);
    }
    return parsed as T;
  }
}

/**
 * Finds the API URL: an explicit one, else $LENET_API_URL, else the stack's `ApiUrl` output
 * (CloudFormation on AWS, or on the emulator when AWS_ENDPOINT_URL is set).
 */
export async function resolveApiUrl(explicit?: string, stackName = process.env.LENET_STACK ?? 'LenetMnist'): Promise<string> {
  if (explicit) return explicit;
  if (process.env.LENET_API_URL) return process.env.LENET_API_URL;
  let outputs;
  try {
    const out = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = out.Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    throw new Error(`Cannot find the API URL: reading stack ${stackName} failed (${(err as Error).message}). Pass --api-url or set LENET_API_URL.`);
  }
  const url = outputs.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
  if (!url) throw new Error(`Stack ${stackName} has no ApiUrl output. Pass --api-url or set LENET_API_URL.`);
  return process.env.AWS_ENDPOINT_URL ? localApiUrl(url) : url;
}
