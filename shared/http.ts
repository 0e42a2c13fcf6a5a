import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { describeZodError } from './schemas';

/** An error a client caused; it becomes a 4xx with `{error, details}`, never a 500. */
export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string, readonly details?: unknown) {
    super(message);
  }
}

/**
 * Sent with every response. No CORS headers at all: the page is served by this same API, so it
 * needs none, and without them no other site's script can read an answer.
 */
export const COMMON_HEADERS = { 'x-content-type-options': 'nosniff' } as const;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...COMMON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorResponse(err: unknown, log: (msg: string, extra: Record<string, unknown>) => void): APIGatewayProxyResult {
  if (err instanceof HttpError) return json(err.statusCode, { error: err.message, details: err.details ?? null });
  log('unhandled error', { error: err instanceof Error ? err.stack : String(err) });
  return json(500, { error: 'Internal error; the request was valid but the service failed. Try again or check the logs.', details: null });
}

/** The largest request body a Lambda behind API Gateway accepts (6 MB payload limit). */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

/** Parses and validates a JSON request body, with a 4xx for every way it can be wrong. */
export function parseJsonBody<T extends z.ZodType>(
  event: APIGatewayProxyEvent,
  schema: T,
  hint = '',
  opts: { requireJsonContentType?: boolean } = {},
): z.infer<T> {
  const contentType = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  // A body without a JSON content type is what a cross-site form post sends (no CORS preflight).
  if (!contentType && opts.requireJsonContentType) throw new HttpError(415, 'Missing Content-Type; send application/json.');
  if (contentType && !/^application\/json\b/i.test(contentType)) {
    throw new HttpError(415, `Unsupported content type "${contentType}"; send application/json.`);
  }
  const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body is ${Buffer.byteLength(raw)} bytes; the limit is ${MAX_BODY_BYTES} bytes (6 MB).`);
  }
  let body: unknown;
  try {
    body = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch (err) {
    throw new HttpError(400, 'Request body is not valid JSON.', (err as Error).message);
  }
  const result = schema.safeParse(body);
  if (!result.success) throw new HttpError(400, `Invalid request: ${describeZodError(result.error)}.${hint && ` ${hint}`}`, result.error.issues);
  return result.data;
}
