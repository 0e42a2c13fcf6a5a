/**
 * Time from `POST /jobs` to the job's first training batch with the trainer as the stack's ECS
 * service, scaled to 0 before each job, on MiniStack (which runs the task as a Docker container of
 * lenet-trainer:local). Needs Docker and the image (npm run build:trainer-image). Figures: docs/reliability.md.
 *
 *   LENET_EMULATOR_PORT=4680 npx tsx local/first-batch.ts [--rounds 2] [--image lenet-trainer:local]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { ApiClient } from '../cli/api-client';
import { makeEcsClient } from '../shared/aws';
import { deployStack, emulatorEnv, startEmulator, stopEmulator } from './emulator';

const run = promisify(execFile);
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2' }, image: { type: 'string' } } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Running containers of this stack's trainer (MiniStack labels its ECS containers ministack=ecs). */
async function trainerContainers(bucketName: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-q', '--filter', 'label=ministack=ecs']);
  const ids: string[] = [];
  for (const id of stdout.split('\n').filter(Boolean)) {
    const env = (await run('docker', ['inspect', '-f', '{{join .Config.Env "\\n"}}', id]).catch(() => ({ stdout: '' }))).stdout;
    if (env.split('\n').includes(`BUCKET_NAME=${bucketName}`)) ids.push(id);
  }
  return ids;
}

async function main() {
  Object.assign(process.env, emulatorEnv());
  const { started } = await startEmulator();
  try {
    const out = await deployStack({
      stackName: 'LenetFirstBatch',
      quiet: true,
      context: { localEcs: 'true', promotionMinAccuracy: '0', ...(values.image ? { trainerImage: values.image } : {}) },
    });
    const ecs = makeEcsClient();
    const target = { cluster: out.ClusterName!, service: out.TrainerServiceName! };
    const api = new ApiClient(out.ApiUrl);
    const running = async () =>
      (await ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }))).services?.[0]?.runningCount ??
      0;
    // The deploy starts one task (local ECS mode has desired count 1): let it come up before scaling to 0,
    // or it may take the first job's message and be stopped with it.
    for (let i = 0; i < 120 && !(await trainerContainers(out.BucketName)).length; i++) await sleep(500);
    for (let round = 1; round <= Number(values.rounds); round++) {
      await ecs.send(new UpdateServiceCommand({ ...target, desiredCount: 0 }));
      while ((await trainerContainers(out.BucketName)).length || (await running()) > 0) await sleep(500);
      // MiniStack stops a task after 5 s, often inside its 20 s long poll; MiniStack still hands the next
      // message to that dead poll, which hides it for the visibility timeout (300 s). Let the poll run out.
      await sleep(25_000);
      const t0 = Date.now();
      const job = await api.submit({ epochs: 1, trainSubset: 2000, testSubset: 1000 });
      const desired = (await ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }))).services?.[0]
        ?.desiredCount;
      let container: string | undefined;
      let containerAt = 0;
      let readyAt = 0;
      let firstBatchAt = 0;
      while (!firstBatchAt && Date.now() - t0 < 300_000) {
        if (!container) {
          [container] = await trainerContainers(out.BucketName);
          if (container) containerAt = Date.now();
        } else {
          const { stdout } = await run('docker', ['logs', container], { maxBuffer: 64 << 20 });
          const lines = stdout.split('\n');
          const ready = lines.find((l) => l.includes('"trainer ready"'));
          if (ready && !readyAt) readyAt = Date.parse(JSON.parse(ready).timestamp);
          const line = lines.find((l) => l.includes('"first batch done"') && l.includes(job.jobId));
          if (line) firstBatchAt = Date.parse(JSON.parse(line).timestamp);
        }
        await sleep(250);
      }
      const s = (t: number) => (t ? `${((t - t0) / 1000).toFixed(1)} s` : 'never');
      console.log(
        JSON.stringify({
          round,
          jobId: job.jobId,
          desiredAfterSubmit: desired,
          container: s(containerAt),
          trainerReady: s(readyAt),
          firstBatch: s(firstBatchAt),
        }),
      );
      for (let i = 0; i < 240 && !['SUCCEEDED', 'FAILED'].includes((await api.job(job.jobId)).status); i++) await sleep(1000);
    }
  } finally {
    if (started) await stopEmulator();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
