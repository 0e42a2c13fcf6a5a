/**
 * `npm start -- --ecs`: the trainer as the stack's real ECS service, run by MiniStack as a Docker
 * container of the locally built image (infra/local-ecs.ts; docs/ministack-notes.md, "ECS through MiniStack").
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LOCAL_ECS_IMAGE } from '../infra/local-ecs';

const DOCKER = '/usr/bin/docker';
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** Builds `lenet-trainer:local` (cached layers: quick when nothing changed) so the container runs the current code. */
export async function buildTrainerImage(image = LOCAL_ECS_IMAGE): Promise<void> {
  try {
    await run('local/docker/build-trainer-image.sh', [image], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`building ${image} failed: ${e.message}\n${(e.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  }
}

/**
 * Waits for MiniStack to run the trainer service's task: a running container labelled ministack=ecs
 * whose BUCKET_NAME is this stack's bucket. Resolves to its name (ministack-ecs-<task>-trainer).
 */
export async function waitForEcsTrainer(bucketName: string, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { stdout } = await run(DOCKER, ['ps', '--filter', 'label=ministack=ecs', '--format', '{{.ID}} {{.Names}}']);
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [id, name] = line.split(' ');
      const env = (await run(DOCKER, ['inspect', '-f', '{{join .Config.Env "\\n"}}', id]).catch(() => ({ stdout: '' }))).stdout;
      if (env.split('\n').includes(`BUCKET_NAME=${bucketName}`)) return name;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(
    `MiniStack started no trainer container in ${timeoutMs / 1000} s. It runs ECS tasks only with Docker and the Docker SDK ` +
      `for Python in its venv: an emulator started before that was installed must be restarted (npm run stop; npm start -- --ecs). See .local/ministack.log.`,
  );
}
