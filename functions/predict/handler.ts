/** POST /predict: classifies 28x28 digits with the latest promoted LeNet-5. */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { makeS3Client } from '../../shared/aws';
import { initBackend } from '../../shared/backend';
import { errorResponse, HttpError, json } from '../../shared/http';
import { checkMissingKeyReads } from '../../shared/access-probe';
import { makeLogger } from '../../shared/log';
import { Bucket } from '../../shared/s3-objects';
import { readPredictConfig } from './config';
import { readPredictInput } from './body';
import { toImages } from '../../shared/digits/input';
import { ModelCache } from './model-cache';
import { predictDigits } from '../../shared/digits/predict';

const logger = makeLogger('predict');
const ready = initBackend('wasm');
let cache: ModelCache | undefined;

/** Pixels in 0..1 to three decimals: plenty for a picture, a quarter of the JSON of full floats. */
const previewPixels = (image: Float32Array) => Array.from(image, (v) => Math.round(v * 1000) / 1000);

export async function handler(event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> {
  // Every log line of this invocation carries its request id and cold-start flag.
  if (context) logger.addContext(context);
  try {
    const { instances, batch } = await readPredictInput(event);
    const images = toImages(instances, batch);
    await ready;
    if (!cache) {
      const config = readPredictConfig();
      const s3 = makeS3Client();
      cache = new ModelCache(new Bucket(s3, config.BUCKET_NAME), config.MODEL_REFRESH_SECONDS);
      // Once per container, not awaited: a 403 for a missing key is logged as one error naming the List statement.
      void checkMissingKeyReads(s3, config.BUCKET_NAME, 'predict', (message, extra) => logger.error(message, extra));
    }
    const served = await cache.get();
    if (!served)
      throw new HttpError(503, 'No model has been trained and promoted yet. Submit a job with POST /jobs and wait for it to succeed.');
    // ?preview=true adds the 784 pixels the model saw, so a page can show why a prediction went wrong
    // (a query flag rather than a body field, so it works with any body type).
    const preview = /^(1|true)$/i.test(event.queryStringParameters?.preview ?? '');
    const predictions = predictDigits(served.model, images).map((p, i) => (preview ? { ...p, preprocessed: previewPixels(images[i]) } : p));
    const model = { jobId: served.version.jobId, epoch: served.version.epoch, testAccuracy: served.version.testAccuracy };
    return json(200, batch ? { predictions, model } : { ...predictions[0], model });
  } catch (err) {
    return errorResponse(err, (msg, extra) => logger.error(msg, extra));
  }
}
