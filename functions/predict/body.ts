/**
 * Reads a POST /predict body by its content type: JSON, a raw PNG or JPEG, or a multipart form
 * with the image as a file part.
 */
import Busboy, { type BusboyInstance } from '@fastify/busboy';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { clip, describeValue, HttpError, MAX_BODY_BYTES, parseJsonBody } from '../../shared/http';
import { instancesOf, PredictRequest, USAGE, type PredictInstance } from '../../shared/digits/input';
import { IMAGE_MEDIA_TYPES, JSON_MEDIA_TYPE, MULTIPART_MEDIA_TYPE } from '../../shared/routes';
import { MAX_MULTIPART_PARTS } from '../../shared/digits/limits';

export interface PredictInput {
  instances: PredictInstance[];
  /** A batch (JSON `instances`) is answered with `predictions`; anything else with one prediction. */
  batch: boolean;
}

const ACCEPTED = [JSON_MEDIA_TYPE, ...IMAGE_MEDIA_TYPES, MULTIPART_MEDIA_TYPE].join(', ');

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  return Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1] ?? undefined;
}

export async function readPredictInput(event: APIGatewayProxyEvent): Promise<PredictInput> {
  const contentType = header(event, 'content-type');
  // A content type is required: without one, API Gateway would pass binary bytes as mangled text.
  if (!contentType) throw new HttpError(415, `POST /predict needs a Content-Type header: one of ${ACCEPTED}.`);
  const mediaType = contentType.split(';', 1)[0].trim().toLowerCase();
  if (mediaType === JSON_MEDIA_TYPE) {
    const request = parseJsonBody(event, PredictRequest, USAGE);
    return { instances: instancesOf(request), batch: request.instances !== undefined };
  }
  if ((IMAGE_MEDIA_TYPES as readonly string[]).includes(mediaType)) return { instances: [{ image: bodyBytes(event) }], batch: false };
  if (mediaType === MULTIPART_MEDIA_TYPE)
    return { instances: [{ image: await imageFromForm(contentType, bodyBytes(event)) }], batch: false };
  throw new HttpError(415, `Unsupported content type ${describeValue(contentType)}; POST /predict accepts ${ACCEPTED}.`);
}

/** The body's bytes: API Gateway sends binary media types base64-encoded. */
function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  const bytes = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64') : Buffer.from(event.body ?? '', 'utf8');
  if (bytes.length > MAX_BODY_BYTES)
    throw new HttpError(413, `Request body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES} bytes (6 MB).`);
  if (bytes.length === 0) throw new HttpError(400, 'The request body is empty; send the PNG or JPEG file as the body.');
  return bytes;
}

/** The form's `image` part, else its first file part. */
async function imageFromForm(contentType: string, body: Buffer): Promise<Buffer> {
  const files: { name: string; bytes: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) =>
      reject(
        err instanceof HttpError
          ? err
          : new HttpError(400, `The multipart/form-data body could not be read: ${clip((err as Error).message, 200)}.`),
      );
    let form: BusboyInstance;
    try {
      form = Busboy({
        headers: { 'content-type': contentType },
        limits: { parts: MAX_MULTIPART_PARTS, files: MAX_MULTIPART_PARTS, fileSize: MAX_BODY_BYTES, fieldSize: 64 * 1024, headerPairs: 32 },
        // curl -F image=<file and some form libraries send the image without a filename.
        isPartAFile: (name, type, filename) =>
          filename !== undefined || name === 'image' || /^(image\/|application\/octet-stream)/i.test(type ?? ''),
      });
    } catch (err) {
      fail(err);
      return;
    }
    form.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => files.push({ name, bytes: Buffer.concat(chunks) }));
    });
    form.on('partsLimit', () => fail(new HttpError(413, `The form has more than ${MAX_MULTIPART_PARTS} parts; send one image.`)));
    form.on('error', fail);
    form.on('finish', () => resolve());
    form.end(body);
  });
  const file = files.find((f) => f.name === 'image') ?? files[0];
  if (!file)
    throw new HttpError(400, 'The multipart/form-data body has no file; send the image as the "image" field (curl -F image=@digit.png).');
  if (file.bytes.length === 0) throw new HttpError(400, `The form's "${clip(file.name)}" file is empty.`);
  return file.bytes;
}
