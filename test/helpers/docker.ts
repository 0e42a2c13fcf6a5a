/** Real containers for integration tests, through /usr/bin/docker (Debian's docker.io; see local/docker/). */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

export const DOCKER = '/usr/bin/docker';
const run = promisify(execFile);

/** Why Docker cannot be used here, or undefined when the engine answers. */
export function dockerUnavailable(): string | undefined {
  try {
    execFileSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 20_000 });
    return undefined;
  } catch (err) {
    const detail = String((err as { stderr?: Buffer }).stderr ?? err)
      .trim()
      .split('\n')[0];
    return `Docker is unavailable (${detail || 'no answer'}); run local/docker/ensure-docker.sh`;
  }
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run(DOCKER, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

export interface Container {
  id: string;
  name: string;
  /** The container's log lines (powertools JSON), parsed. */
  logs(): Promise<Array<Record<string, unknown> & { message: string }>>;
  /** State.StartedAt as epoch ms. */
  startedAt(): Promise<number>;
  /** Waits for the container to exit; resolves to its exit code. */
  wait(): Promise<number>;
}

/** `docker run -d` (no --rm: logs and exit code stay readable until `removeContainers`). */
export async function runContainer(name: string, image: string, env: Record<string, string>, extra: string[] = []): Promise<Container> {
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const id = await docker('run', '-d', '--name', name, '--label', 'lenet-test=1', ...extra, ...envArgs, image);
  return {
    id,
    name,
    logs: async () => {
      // The trainer logs to stdout; stderr (e.g. Node warnings) is not JSON.
      const { stdout } = await run(DOCKER, ['logs', id], { maxBuffer: 64 * 1024 * 1024 });
      return stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
    },
    startedAt: async () => Date.parse(await docker('inspect', '-f', '{{.State.StartedAt}}', id)),
    wait: async () => Number(await docker('wait', id)),
  };
}

export async function removeContainers(containers: Container[]): Promise<void> {
  if (containers.length) await docker('rm', '-f', ...containers.map((c) => c.id)).catch(() => undefined);
}
