import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { describeZodError } from './schemas';

/** An error a client caused; it becomes a 4xx with `{error, details}`, never a 500. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
  ) {
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

/** Longest error message sent back; messages may quote a client's input. */
export const MAX_ERROR_CHARS = 500;
/** Longest `details` sent back, as JSON; longer details are cut to a string of this length. */
export const MAX_DETAILS_CHARS = 2000;
/** Most characters of a client's value quoted in an error. */
export const MAX_QUOTED_CHARS = 40;

/** `text`, cut to `max` characters with a note of how long it was. */
export function clip(text: string, max = MAX_QUOTED_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/**
 * A short description of a client's value for an error message: scalars quoted (strings cut),
 * arrays and objects only named. It never recurses, so a deeply nested value cannot overflow the stack.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return (
      JSON.stringify(value.slice(0, MAX_QUOTED_CHARS)) +
      (value.length > MAX_QUOTED_CHARS ? `… (a string of ${value.length} characters)` : '')
    );
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** `details` as sent: at most MAX_DETAILS_CHARS of JSON, and never a failure to serialise. */
function boundedDetails(details: unknown): unknown {
  if (details === undefined || details === null) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(details);
  } catch {
    return null;
  }
  return text === undefined || text.length <= MAX_DETAILS_CHARS ? details : clip(text, MAX_DETAILS_CHARS);
}

export function errorResponse(err: unknown, log: (msg: string, extra: Record<string, unknown>) => void): APIGatewayProxyResult {
  if (err instanceof HttpError)
    return json(err.statusCode, { error: clip(err.message, MAX_ERROR_CHARS), details: boundedDetails(err.details) });
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
    throw new HttpError(415, `Unsupported content type ${describeValue(contentType)}; send application/json.`);
  }
  const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body is ${Buffer.byteLength(raw)} bytes; the limit is ${MAX_BODY_BYTES} bytes (6 MB).`);
  }
  let body: unknown;
  try {
    body = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch (err) {
    throw new HttpError(400, 'Request body is not valid JSON.', clip((err as Error).message, 200));
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    // Issues name keys and paths from the input, and unrecognized_keys lists every unknown key: cut each.
    const issues = result.error.issues.slice(0, 5).map((issue) => ({
      code: issue.code,
      path: issue.path.slice(0, 10).map((p) => (typeof p === 'number' ? p : clip(String(p)))),
      message: clip(issue.message, 200),
    }));
    throw new HttpError(400, `Invalid request: ${clip(describeZodError(result.error), 300)}.${hint && ` ${hint}`}`, issues);
  }
  return result.data;
}
