/**
 * GET /jobs with many jobs: writes N job documents and index entries to a fresh bucket on the
 * emulator, then times JobsApi.listJobs (the api handler's code, in-process against the emulator's
 * S3) for the first page and a deep page, with the answer's size.
 *
 *   LENET_EMULATOR_PORT=4576 npx tsx test/bench/jobs-list.ts [--jobs 10000] [--rounds 20]
 */
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { makeS3Client, makeSqsClient } from '../../shared/aws';
import { JobStore } from '../../shared/job-store';
import { Bucket } from '../../shared/s3-objects';
import type { JobStatus } from '../../shared/schemas';
import { JobsApi } from '../../functions/api/jobs-api';
import { emulatorEnv, startEmulator, stopEmulator } from '../../local/emulator';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '20' } } });
const n = Number(values.jobs);
const rounds = Number(values.rounds);
Object.assign(process.env, emulatorEnv());
const { started } = await startEmulator();
try {
  const s3 = makeS3Client();
  const name = `bench-jobs-${Date.now()}`;
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  const bucket = new Bucket(s3, name);
  const store = new JobStore(bucket);
  const t0 = Date.now();
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) => {
        const at = new Date(base + (i + k) * 1000).toISOString();
        const doc: JobStatus = {
          jobId: `bench-${i + k}`,
          status: 'SUCCEEDED',
          createdAt: at,
          updatedAt: at,
          epoch: 20,
          totalEpochs: 20,
          metrics: [],
          testAccuracy: 0.99,
        };
        return store.record(doc);
      }),
    );
  }
  console.log(`wrote ${n} jobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const api = new JobsApi(bucket, makeSqsClient(), 'unused', { minAccuracy: 0.98 });
  const measure = async (label: string, query: { limit?: string; next?: string }) => {
    const ms: number[] = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      const page = await api.listJobs(query);
      ms.push(performance.now() - t);
      bytes = Buffer.byteLength(JSON.stringify(page));
    }
    ms.sort((a, b) => a - b);
    console.log(`${label}: p50 ${ms[Math.floor(rounds / 2)].toFixed(1)} ms, max ${ms.at(-1)!.toFixed(1)} ms, ${bytes} bytes`);
  };
  await measure('first page (20)', {});
  await measure('first page (100)', { limit: '100' });
  let next: string | undefined;
  for (let i = 0; i < 50; i++) next = (await api.listJobs({ limit: '100', next })).next;
  await measure('page 51 (100)', { limit: '100', next });
} finally {
  if (started) await stopEmulator();
}
