/**
 * The AWS CLI (https://pypi.org/project/awscli/), pinned, in the git-ignored `.venv-tools/` next to
 * cfn-lint: the used-by test runs the README's `aws` commands with the client a user types.
 *
 *   npx tsx local/aws-cli.ts install
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../infra/paths';

/** The exact AWS CLI release. Change it here only. */
export const AWS_CLI_VERSION = '1.46.3';
const VENV = path.join(REPO_ROOT, '.venv-tools');
/** Its bin folder: put it first on PATH so a shell's `aws` is this one. */
export const AWS_CLI_BIN = path.join(VENV, 'bin');

/** The installed AWS CLI's version, or undefined when there is none. */
export function installedAwsCli(): string | undefined {
  const aws = path.join(AWS_CLI_BIN, 'aws');
  if (!existsSync(aws)) return undefined;
  const r = spawnSync(aws, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? /aws-cli\/(\d+\.\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`)?.[1] : undefined;
}

/** Creates `.venv-tools/` if needed and installs the pinned AWS CLI into it, if not done yet. */
export function ensureAwsCli(): void {
  if (installedAwsCli() === AWS_CLI_VERSION) return;
  const python = path.join(VENV, 'bin', 'python');
  const steps: [string, string[]][] = [
    ...(existsSync(python) ? [] : [['python3', ['-m', 'venv', VENV]] as [string, string[]]]),
    [python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `awscli==${AWS_CLI_VERSION}`]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  if (process.argv[2] !== 'install') {
    console.error('usage: npx tsx local/aws-cli.ts install');
    process.exitCode = 2;
  } else {
    ensureAwsCli();
    console.log(`aws-cli ${installedAwsCli()} in ${AWS_CLI_BIN}`);
  }
}
