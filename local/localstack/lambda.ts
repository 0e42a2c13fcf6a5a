/**
 * LocalStack's Docker Lambda executor, set up by local/localstack/setup-lambda.sh (runtime image in a
 * local registry, runtime-init built from local/localstack/init). Enabled with
 * LENET_LOCALSTACK_LAMBDA=docker; without it LocalStack runs with no usable Lambda (no Docker images).
 * Read lazily by local/emulator.ts when it starts LocalStack.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const LAMBDA_BUILD_DIR = path.join(REPO_ROOT, '.local', 'localstack-lambda');
export const LAMBDA_REGISTRY = '127.0.0.1:5073';
/** Every Lambda runtime the stack uses, mapped to the image setup-lambda.sh builds for it. */
export const LAMBDA_RUNTIME_IMAGES: Record<string, string> = {
  'nodejs24.x': `${LAMBDA_REGISTRY}/lenet-lambda-nodejs:24`,
};
/** The runtime-init version LocalStack 2026.3.0 looks for (its own download is skipped when the file exists). */
const LOCALSTACK_INIT_VERSION = 'v0.1.41-pre';
/** Docker's default bridge gateway: Lambda containers call LocalStack back there. */
const DOCKER_BRIDGE_GATEWAY = process.env.LENET_DOCKER_BRIDGE_IP ?? '172.17.0.1';

export function localstackLambdaEnabled(): boolean {
  const v = process.env.LENET_LOCALSTACK_LAMBDA;
  if (v === undefined || v === '' || v === '0' || v === 'off') return false;
  if (v === 'docker' || v === '1') return true;
  throw new Error(`LENET_LOCALSTACK_LAMBDA must be 'docker' or 'off', got '${v}'`);
}

/**
 * Extra LocalStack environment for Docker Lambdas (or {} when disabled). Puts the runtime-init where
 * LocalStack expects its downloaded copy, under `filesystemRoot`.
 */
export function localstackLambdaEnv(host: string, port: number, filesystemRoot: string): Record<string, string> {
  if (!localstackLambdaEnabled()) return {};
  const init = path.join(LAMBDA_BUILD_DIR, 'init');
  if (!existsSync(init)) {
    throw new Error(`LENET_LOCALSTACK_LAMBDA=docker needs ${path.relative(REPO_ROOT, init)}; run local/localstack/setup-lambda.sh first`);
  }
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
  const target = path.join(filesystemRoot, 'var/lib/localstack/lib/lambda-runtime', LOCALSTACK_INIT_VERSION, arch, 'var/rapid/init');
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(init, target);
  return {
    // Loopback for us, the Docker bridge for the Lambda containers' callbacks; nothing else.
    GATEWAY_LISTEN: `${host}:${port},${DOCKER_BRIDGE_GATEWAY}:${port}`,
    HOSTNAME_FROM_LAMBDA: DOCKER_BRIDGE_GATEWAY,
    DOCKER_CMD: '/usr/bin/docker',
    LAMBDA_RUNTIME_IMAGE_MAPPING: JSON.stringify(LAMBDA_RUNTIME_IMAGES),
    LAMBDA_INIT_BIN_PATH: init,
    LAMBDA_KEEPALIVE_MS: '600000',
    LAMBDA_REMOVE_CONTAINERS: '1',
  };
}
