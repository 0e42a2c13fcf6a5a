import { GetObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import type * as tfl from '@tensorflow/tfjs-layers';
import { disposeModel } from '../../shared/model';
import { loadModel } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import type { Bucket } from '../../shared/s3-objects';
import type { LatestModel } from '../../shared/documents';

export interface ServedModel {
  model: tfl.LayersModel;
  version: LatestModel;
}

/**
 * Holds the served model for the life of a Lambda container. The latest-model pointer is
 * re-checked at most every `refreshSeconds`, with its ETag, and a newly promoted model is
 * swapped in without a cold start.
 */
export class ModelCache {
  private served?: ServedModel;
  private etag?: string;
  private checkedAt = -Infinity;
  private loading?: Promise<ServedModel | undefined>;

  constructor(
    private readonly bucket: Bucket,
    private readonly refreshSeconds = 30,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The model to predict with, or undefined when none has been promoted yet. */
  async get(): Promise<ServedModel | undefined> {
    if (this.served && this.now() - this.checkedAt < this.refreshSeconds * 1000) return this.served;
    this.loading ??= this.refresh().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async refresh(): Promise<ServedModel | undefined> {
    const pointer = await this.readPointerIfChanged();
    this.checkedAt = this.now();
    if (!pointer) return this.served;
    const model = await loadModel(this.bucket, pointer.modelPrefix);
    const previous = this.served;
    this.served = { model, version: pointer };
    if (previous) disposeModel(previous.model);
    return this.served;
  }

  /** The pointer if it changed since the last read (304s are cheap), else undefined. */
  private async readPointerIfChanged(): Promise<LatestModel | undefined> {
    try {
      const out = await this.bucket.s3.send(
        new GetObjectCommand({ Bucket: this.bucket.name, Key: modelKeys.latest, IfNoneMatch: this.served ? this.etag : undefined }),
      );
      const pointer = JSON.parse(await out.Body!.transformToString()) as LatestModel;
      if (this.served && pointer.modelPrefix === this.served.version.modelPrefix) {
        this.etag = out.ETag;
        return undefined;
      }
      this.etag = out.ETag;
      return pointer;
    } catch (err) {
      const status = (err as S3ServiceException).$metadata?.httpStatusCode;
      if (status === 304) return undefined;
      if (status === 404 || (err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }
}
