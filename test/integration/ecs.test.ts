/**
 * The trainer through ECS on the emulator: the stack deployed to MiniStack with `-c localEcs=true`
 * keeps its real Fargate service and task definition, and MiniStack runs that service's task as a
 * Docker container of the locally built image (lenet-trainer:local). A job submitted with
 * POST /jobs is trained by that container, promoted, and served by POST /predict.
 * What MiniStack cannot do here (task roles, stop timeout, Spot, auto scaling, task protection):
 * docs/ministack-notes.md, "ECS through MiniStack".
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../shared/aws';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { modelKeys } from '../../shared/bucket-layout';
import { Bucket } from '../../shared/s3-objects';
import { ApiClient } from '../../cli/api-client';
import { uploadMnist } from '../../cli/upload-mnist';
import { deployStack, emulatorName, stopEmulator, type StackOutputs } from '../../local/emulator';
import { LOCAL_ECS_IMAGE } from '../../infra/local-ecs';
import { emulatorReady } from '../helpers/aws';
import { docker, dockerUnavailable } from '../helpers/docker';
import { jobFinishedViaApi, waitFor } from '../helpers/trainer';

// LocalStack's community edition skips ECS resources; MiniStack runs ECS tasks as Docker containers.
const skip =
  emulatorName() === 'ministack' ? dockerUnavailable() : `ECS tasks run only on MiniStack here; ${emulatorName()} skips ECS resources`;
if (skip) console.log(`# skipping ecs tests: ${skip}`);

/** MiniStack's ECS containers (label ministack=ecs) as "id name" lines. */
const ecsContainers = async () =>
  (await docker('ps', '-a', '--filter', 'label=ministack=ecs', '--format', '{{.ID}} {{.Names}}')).split('\n').filter(Boolean);

let outputs: StackOutputs;
let api: ApiClient;
let startedEmulator = false;
let before0: Set<string>;

if (!skip) {
  before(async () => {
    // Always (re)build: a stale image would test old code. Cached layers make this quick.
    const build = promisify(execFile)('local/docker/build-trainer-image.sh', [LOCAL_ECS_IMAGE], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 15 * 60_000,
    });
    startedEmulator = await emulatorReady();
    before0 = new Set(await ecsContainers());
    await build;
    outputs = await deployStack({
      stackName: 'LenetEcs',
      quiet: true,
      // 1 epoch on 2,000 images cannot reach the production bar; promotion rules have their own tests.
      context: { localEcs: 'true', promotionMinAccuracy: '0.5' },
    });
    api = new ApiClient(outputs.ApiUrl);
    const bucket = new Bucket(makeS3Client(), outputs.BucketName);
    await uploadMnist(bucket);
    // A stack left by an earlier run may serve a model already; start from none.
    await bucket.s3.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: modelKeys.latest }));
  });

  after(async () => {
    const ours = (await ecsContainers().catch(() => [])).filter((c) => !before0?.has(c)).map((c) => c.split(' ')[0]);
    // MiniStack removes its containers when it shuts down; the rm is a safety net.
    if (startedEmulator) await stopEmulator();
    if (ours.length) await docker('rm', '-f', ...ours).catch(() => undefined);
  });
}

test('a job from POST /jobs is trained by the ECS service task MiniStack runs as a container, promoted and served', { skip }, async () => {
  const t0 = Date.now();
  const submitted = await api.submit({ epochs: 1, trainSubset: 2000, augmentShift: 0 }); // the whole test set: a model scored on a testSubset is never promoted
  const done = await waitFor(`job ${submitted.jobId} to end`, jobFinishedViaApi(api, submitted.jobId), 900_000, 2000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);

  // The trainer that ran it is a container of the service's task, named ministack-ecs-<task>-trainer.
  const started = (await ecsContainers()).filter((c) => !before0.has(c));
  assert.ok(started.length >= 1, 'MiniStack started no ECS container');
  const trainedBy: string[] = [];
  for (const line of started) {
    const [id, name] = line.split(' ');
    assert.match(name, /^ministack-ecs-/);
    assert.equal(await docker('inspect', '-f', '{{.Config.Image}} {{.HostConfig.NetworkMode}}', id), `${LOCAL_ECS_IMAGE} host`);
    const logs = await docker('logs', id);
    if (logs.includes(submitted.jobId)) trainedBy.push(name);
  }
  assert.equal(trainedBy.length, 1, `containers that logged job ${submitted.jobId}: ${trainedBy.join(', ') || 'none'}`);

  const { latest } = await api.models();
  assert.equal(latest?.jobId, done.jobId, `not served: ${done.promotion} (test accuracy ${done.testAccuracy})`);

  const { test: testSet } = await loadDatasetFromDir(mnistDataDir());
  const instances = Array.from({ length: 50 }, (_, i) => ({ pixels: Array.from(testSet.images.subarray(i * 784, (i + 1) * 784)) }));
  const { predictions } = await api.predict<{ predictions: { digit: number }[] }>({ instances });
  assert.equal(predictions.length, 50);
  const correct = predictions.filter((p, i) => p.digit === testSet.labels[i]).length;
  assert.ok(correct >= 25, `${correct}/50 test digits correct`);
  console.log(
    `ECS FIGURES ${JSON.stringify({ container: trainedBy[0], submitToSucceededMs: Date.now() - t0, testAccuracy: done.testAccuracy, correctOf50: correct })}`,
  );
});
