import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeZodError, JobId, JobMessage, TrainingParams } from '../../shared/schemas';
import { parseJobMessage } from '../../functions/trainer/lifecycle/job-consumer';

test('training params default to the reference recipe sizes', () => {
  const p = TrainingParams.parse({});
  assert.equal(p.epochs, 20);
  assert.equal(p.batchSize, 32);
  assert.equal(p.learningRate, 0.0005);
  assert.equal(p.datasetPrefix, 'datasets/mnist/');
  assert.ok(p.validationSplit > 0);
});

test('the one-cycle schedule is accepted', () => {
  assert.equal(TrainingParams.parse({ lrSchedule: 'onecycle', batchSize: 128 }).lrSchedule, 'onecycle');
});

test('testEachEpoch: optional, a boolean, absent unless asked for', () => {
  assert.equal(TrainingParams.parse({}).testEachEpoch, undefined);
  assert.equal(TrainingParams.parse({ testEachEpoch: true }).testEachEpoch, true);
  assert.equal(TrainingParams.parse({ testEachEpoch: false }).testEachEpoch, false);
  for (const bad of ['yes', 1, null]) {
    const result = TrainingParams.safeParse({ testEachEpoch: bad });
    assert.equal(result.success, false, JSON.stringify(bad));
    assert.match(describeZodError(result.error!), /testEachEpoch/);
  }
});

test('out-of-bounds and unknown params are rejected with the field named', () => {
  const cases: [unknown, RegExp][] = [
    [{ epochs: 0 }, /epochs/],
    [{ epochs: -3 }, /epochs/],
    [{ epochs: 101 }, /epochs/],
    [{ epochs: 2.5 }, /epochs/],
    [{ batchSize: 0 }, /batchSize/],
    [{ learningRate: 0 }, /learningRate/],
    [{ validationSplit: 0.9 }, /validationSplit/],
    [{ datasetPrefix: '../etc/' }, /datasetPrefix/],
    [{ datasetPrefix: 'no-slash' }, /datasetPrefix/],
    [{ lrSchedule: 'warp' }, /lrSchedule/],
    [{ epoch: 3 }, /epoch/],
    [{ workers: 2 }, /"keys":\["workers"\]/],
    [{ threads: 0 }, /threads/],
    [{ threads: 17 }, /threads/],
    [{ threads: 'fast' }, /threads/],
    [{ labelSmoothing: -0.1 }, /labelSmoothing/],
    [{ labelSmoothing: 0.6 }, /labelSmoothing/],
    [{ labelSmoothing: '0.1' }, /labelSmoothing/],
    [{ normalizeInputs: 'yes' }, /normalizeInputs/],
    [{ normalizeInputs: 1 }, /normalizeInputs/],
  ];
  for (const [input, field] of cases) {
    const result = TrainingParams.safeParse(input);
    assert.equal(result.success, false, JSON.stringify(input));
    assert.match(JSON.stringify(result.error!.issues), field);
  }
});

test('queue messages: valid, malformed JSON, missing and unknown fields', () => {
  const ok = parseJobMessage({ MessageId: 'm1', Body: JSON.stringify({ jobId: 'job-1', params: { epochs: 2 } }) });
  assert.equal(ok.ok, true);
  assert.equal(ok.ok && 'params' in ok.job && ok.job.params.epochs, 2);

  const notJson = parseJobMessage({ MessageId: 'm2', Body: '{"jobId": ' });
  assert.deepEqual([notJson.ok, !notJson.ok && notJson.jobId], [false, 'message-m2']);
  assert.match(!notJson.ok ? notJson.reason : '', /not valid JSON/);

  const missing = parseJobMessage({ MessageId: 'm3', Body: JSON.stringify({ jobId: 'job-3' }) });
  assert.equal(missing.ok, false);
  assert.equal(!missing.ok && missing.jobId, 'job-3');
  assert.match(!missing.ok ? missing.reason : '', /params/);

  const unknown = parseJobMessage({ MessageId: 'm4', Body: JSON.stringify({ jobId: 'job-4', params: {}, colour: 'red' }) });
  assert.match(!unknown.ok ? unknown.reason : '', /colour/);

  const badEpochs = parseJobMessage({ MessageId: 'm5', Body: JSON.stringify({ jobId: 'job-5', params: { epochs: -1 } }) });
  assert.match(!badEpochs.ok ? badEpochs.reason : '', /params\.epochs/);

  assert.equal(JobMessage.safeParse({ jobId: '../x', params: {} }).success, false);
});

test('batch prediction messages: parsed by their kind; a bad one fails under its own job id', () => {
  const batch = {
    kind: 'batch-predict',
    jobId: 'job-b',
    input: { bucket: 'b', prefix: 'batch/in/' },
    output: { bucket: 'b', prefix: 'batch/out/' },
    modelJobId: 'job-m',
  };
  const ok = parseJobMessage({ MessageId: 'm8', Body: JSON.stringify(batch) });
  assert.deepEqual(ok.ok && ok.form === 'batch' && ok.job, batch);
  const bad = parseJobMessage({ MessageId: 'm9', Body: JSON.stringify({ ...batch, modelJobId: undefined, colour: 1 }) });
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.jobId, 'job-b');
  assert.match(!bad.ok ? bad.reason : '', /invalid batch job: .*modelJobId/);
});

test('queue messages sent straight to SQS: the parameters alone, the job id from the message id', () => {
  const messageId = '5fea7756-0ea4-451a-a703-a558b933e274';
  const short = parseJobMessage({ MessageId: messageId, Body: JSON.stringify({ epochs: 5 }) });
  assert.ok(short.ok);
  assert.equal(short.form, 'params');
  assert.equal(short.job.jobId, `message-${messageId}`);
  assert.equal(JobId.safeParse(short.job.jobId).success, true);
  assert.deepEqual(
    'params' in short.job && short.job.params,
    TrainingParams.parse({ epochs: 5 }),
    'defaults filled in, as POST /jobs does',
  );
  // A redelivery has the same MessageId: the same job.
  const again = parseJobMessage({ MessageId: messageId, Body: JSON.stringify({ epochs: 5 }) });
  assert.equal(again.ok && again.job.jobId, short.job.jobId);

  const empty = parseJobMessage({ MessageId: 'm6', Body: '{}' });
  assert.equal(empty.ok && 'params' in empty.job && empty.job.params.epochs, 20, 'an empty object is the default job');

  const noId = parseJobMessage({ MessageId: 'm7', Body: JSON.stringify({ params: { epochs: 2 } }) });
  assert.equal(noId.ok && noId.job.jobId, 'message-m7');

  const odd = parseJobMessage({ MessageId: 'a:b/c', Body: '{}' });
  assert.equal(odd.ok && odd.job.jobId, 'message-a-b-c', 'characters a job id cannot hold are replaced');

  for (const [body, reason] of [
    [{ epochs: 0 }, /^invalid job: epochs: Too small/],
    [{ epochs: 5, priority: 'high' }, /Unrecognized key: "priority"/],
    [[1, 2], /must be a JSON object/],
    ['5', /must be a JSON object/],
    [null, /must be a JSON object/],
  ] as const) {
    const bad = parseJobMessage({ MessageId: 'm8', Body: JSON.stringify(body) });
    assert.equal(bad.ok, false, JSON.stringify(body));
    assert.equal(!bad.ok && bad.jobId, 'message-m8');
    assert.match(!bad.ok ? bad.reason : '', reason);
  }
});

test("threads: 'auto' or a count; a wrong value says which values are allowed", () => {
  assert.equal(TrainingParams.parse({ threads: 'auto' }).threads, 'auto');
  assert.equal(TrainingParams.parse({ threads: 2 }).threads, 2);
  assert.equal(TrainingParams.parse({}).threads, undefined);
  assert.equal('threads' in TrainingParams.parse({}), false, 'no threads key when none is given');
  const bad = TrainingParams.safeParse({ threads: 'fast' });
  assert.equal(bad.success, false);
  assert.match(describeZodError(bad.error!), /threads: must be 'auto' or a whole number from 1 to 16/);
});
