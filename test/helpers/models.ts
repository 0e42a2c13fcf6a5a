/** Models trained in a test and promoted as the trainer would promote them, for the predict tests. */
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { take } from '../../shared/idx';
import { buildLeNet5, disposeModel } from '../../shared/model';
import { saveCheckpoint } from '../../shared/model-store';
import { modelKeys } from '../../shared/bucket-layout';
import { promoteIfBetter } from '../../shared/promotion';
import type { Bucket } from '../../shared/s3-objects';
import { TrainingParams } from '../../shared/schemas';
import { train } from '../../functions/trainer/loop/train';

/**
 * Trains LeNet-5 (seed 11) on the first `images` real MNIST training images and promotes it as
 * `jobId`'s final model, recorded as scored 0.95 on the whole test set. `params` add to one epoch,
 * no validation split; `force` promotes over a better served model. Needs the wasm training backend.
 */
export async function trainAndPromote(
  bucket: Bucket,
  jobId: string,
  opts: { images: number; params?: Partial<TrainingParams>; force?: boolean },
): Promise<void> {
  const data = await loadDatasetFromDir(mnistDataDir());
  const model = buildLeNet5({ seed: 11 });
  await train(model, take(data.train, opts.images), {
    params: TrainingParams.parse({ epochs: 1, validationSplit: 0, ...opts.params }),
    backend: 'wasm',
  });
  const info = {
    jobId,
    epoch: 1,
    backend: 'wasm',
    testAccuracy: 0.95,
    testImages: 10_000,
    fullTestSet: true,
    createdAt: new Date().toISOString(),
  };
  await saveCheckpoint(bucket, modelKeys.final(jobId), model, { ...info, includeOptimizer: false });
  await promoteIfBetter(bucket, { jobId, epoch: 1, testAccuracy: 0.95 }, { minAccuracy: 0, force: opts.force ?? false });
  disposeModel(model);
}
