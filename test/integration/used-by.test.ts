/**
 * The used-by flow of README.md's "Deploying to AWS", on the emulator, with the clients a user types:
 * `cdk deploy` (deployStack runs the cdk CLI), then the README's own lines, read from its fenced
 * block and run by bash with the AWS CLI (PyPI awscli, pinned, in .venv-tools/) and Debian's curl.
 * Nothing sits between the deploy and the first job: the trainer seeds MNIST on the job itself.
 * The host-process trainer stands in for the Fargate service (docs/ministack-notes.md).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeS3Client } from '../../shared/aws';
import { loadDatasetFromDir, mnistDataDir } from '../../shared/dataset';
import { DATASET_FILES, DEFAULT_DATASET_PREFIX } from '../../shared/bucket-layout';
import { JobStore } from '../../shared/job-store';
import { Bucket } from '../../shared/s3-objects';
import { deployStack, emulatorEnv, emulatorGap, localApiUrl, type StackOutputs } from '../../local/emulator';
import { startLocalTrainer } from '../../local/local-trainer';
import { AWS_CLI_BIN, ensureAwsCli } from '../../local/aws-cli';
import { digitPng } from '../helpers/images';
import { useEmulator, emulatorReady } from '../helpers/aws';
import { jobFinished, waitFor } from '../helpers/trainer';
import type { JobStatus } from '../../shared/documents';

useEmulator();
const skip = emulatorGap('lambda');

/** The lines of the first ```sh block of README.md's "Deploying to AWS" section. */
export function deployBlock(readme: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith('Deploying to AWS\n'));
  assert.ok(section, 'README.md has a "Deploying to AWS" section');
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'with a ```sh block');
  return block.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
}

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const lines = deployBlock(readme);
const one = (re: RegExp) => {
  const found = lines.filter((l) => re.test(l));
  assert.equal(found.length, 1, `one line matching ${re} in the README's deploy block: ${JSON.stringify(lines)}`);
  return found[0];
};
const deployLine = one(/^npm run deploy\b/);
const sendLine = one(/^aws sqs send-message /);
const curlLine = one(/^curl /);
/** `NAME=$(aws cloudformation describe-stacks ...)`: read the stack's outputs, as a user does. */
const outputLines = lines.filter((l) => /^[A-Z_]+=\$\(aws cloudformation describe-stacks /.test(l));

let outputs: StackOutputs;
let bucket: Bucket;
let trainer: ChildProcess | undefined;
const work = mkdtempSync(join(tmpdir(), 'used-by-'));

/** Runs README lines with bash, the AWS CLI first on PATH and the emulator's endpoint in the environment. */
function sh(script: string[], extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...emulatorEnv(), PATH: `${AWS_CLI_BIN}:${process.env.PATH}`, ...extraEnv };
  for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN']) delete env[k];
  // awscli v1 sends `aws sqs` in us-east-1 to https://queue.amazonaws.com unless --endpoint-url is on
  // the command line, whatever AWS_ENDPOINT_URL says (awscli/customizations/overridesslcommonname.py):
  // so on the emulator every `aws` gets it there. The README's lines run unchanged.
  const wrap = 'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }';
  const r = spawnSync('bash', ['-c', ['set -euo pipefail', wrap, ...script].join('\n')], {
    cwd: work,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `${script.join('\n')}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

before(async () => {
  if (skip) return;
  await emulatorReady();
  ensureAwsCli();
  // `cdk deploy` as npm run deploy runs it, in local mode (the emulator's one difference: -c local=true).
  outputs = await deployStack({ quiet: true });
  bucket = new Bucket(makeS3Client(), outputs.BucketName);
  trainer = startLocalTrainer({
    bucketName: outputs.BucketName,
    queueUrl: outputs.QueueUrl,
    env: { WAIT_TIME_SECONDS: '2' },
    logFile: `.local/used-by-trainer-${Date.now()}.log`,
  });
});

after(async () => {
  trainer?.kill('SIGTERM');
  if (trainer && trainer.exitCode === null) await new Promise((resolve) => trainer!.once('exit', resolve));
  rmSync(work, { recursive: true, force: true });
});

test("README's deploy block: nothing between the deploy and the first job but reading the stack's outputs", () => {
  const between = lines.slice(lines.indexOf(deployLine) + 1, lines.indexOf(sendLine));
  assert.deepEqual(
    between,
    outputLines.filter((l) => between.includes(l)),
    `only output reads: ${JSON.stringify(between)}`,
  );
  assert.ok(outputLines.some((l) => l.startsWith('QUEUE_URL=')) && outputLines.some((l) => l.startsWith('API_URL=')));
  assert.ok(sendLine.includes('--queue-url "$QUEUE_URL"'), sendLine);
  assert.ok(curlLine.includes("--data-binary @digit.png -H 'Content-Type: image/png'") && curlLine.includes('API_URL'), curlLine);
});

test("README's aws sqs send-message after cdk deploy trains on the seeded MNIST to SUCCEEDED, and its curl predicts a real digit (200)", {
  skip,
  timeout: 900_000,
}, async () => {
  const empty = await bucket.listKeys(DEFAULT_DATASET_PREFIX);
  assert.deepEqual(empty, [], 'a fresh deploy has no dataset: the job must not need an upload step');

  const out = sh([...outputLines, sendLine, 'printf "\\n@@API_URL=%s\\n" "$API_URL"']);
  const messageId = /"MessageId":\s*"([^"]+)"/.exec(out)?.[1];
  assert.ok(messageId, out);
  const apiUrlAws = /@@API_URL=(.*)/.exec(out)?.[1];
  assert.equal(apiUrlAws, outputs.ApiUrlAws, 'API_URL read from the stack outputs');

  const jobId = `message-${messageId}`;
  const done = await waitFor<JobStatus>(`${jobId} to end`, jobFinished(new JobStore(bucket), jobId), 840_000, 1000);
  assert.equal(done.status, 'SUCCEEDED', done.reason);
  assert.equal(done.promoted, true, `served: ${done.promotion}`);
  assert.deepEqual(
    (await bucket.listKeys(DEFAULT_DATASET_PREFIX)).sort(),
    Object.values(DATASET_FILES)
      .map((f) => DEFAULT_DATASET_PREFIX + f)
      .sort(),
  );

  // A real MNIST test digit as a PNG; curl's status code via its config file, so the command stays the README's.
  const { test: testSet } = await loadDatasetFromDir(mnistDataDir());
  writeFileSync(join(work, 'digit.png'), digitPng(testSet.images.subarray(0, 784)));
  writeFileSync(join(work, '.curlrc'), 'write-out = "\\n%{http_code}"\nsilent\n');
  // The one emulator difference: its API Gateway answers at a local URL, not the execute-api host.
  const reply = sh([`API_URL='${localApiUrl(apiUrlAws!)}'`, curlLine], { CURL_HOME: work }).trimEnd();
  const status = reply.slice(reply.lastIndexOf('\n') + 1);
  const body = JSON.parse(reply.slice(0, reply.lastIndexOf('\n')));
  assert.equal(status, '200', reply);
  assert.equal(body.digit, testSet.labels[0]);
  assert.equal(body.model.jobId, jobId, 'served by the model the README job trained');
});
