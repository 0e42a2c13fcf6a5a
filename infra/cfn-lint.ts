/**
 * cfn-lint (https://pypi.org/project/cfn-lint/) on the synthesized templates, AWS and local mode.
 *
 *   npm run lint:cfn             # cdk synth both modes into a temporary folder, then cfn-lint them
 *   npx tsx infra/cfn-lint.ts install    # only create .venv-tools/ with the pinned cfn-lint (.ci/run does)
 *
 * cfn-lint lives in the git-ignored `.venv-tools/`, pinned below. Exit code: cfn-lint's (0 = no errors, warnings or notes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './paths';

/** The exact cfn-lint release the templates are checked with. Change it here only. */
export const CFN_LINT_VERSION = '1.58.0';
const VENV = path.join(REPO_ROOT, '.venv-tools');
export const CFN_LINT = path.join(VENV, 'bin', 'cfn-lint');

/** The installed cfn-lint's version, or undefined when there is none. */
export function installedCfnLint(): string | undefined {
  if (!existsSync(CFN_LINT)) return undefined;
  const r = spawnSync(CFN_LINT, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? /(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] : undefined;
}

/** Creates `.venv-tools/` and installs the pinned cfn-lint into it, if not done yet. */
export function ensureCfnLint(): void {
  if (installedCfnLint() === CFN_LINT_VERSION) return;
  const python = path.join(VENV, 'bin', 'python');
  const steps: [string, string[]][] = [
    ...(existsSync(python) ? [] : [['python3', ['-m', 'venv', VENV]] as [string, string[]]]),
    [python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `cfn-lint==${CFN_LINT_VERSION}`]],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

/** Runs cfn-lint on the given templates; returns its exit code and output (one finding per paragraph). */
export function cfnLint(templates: string[]): { status: number; output: string } {
  const r = spawnSync(CFN_LINT, ['--', ...templates], { encoding: 'utf8' });
  return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** `cdk synth` of one mode into `outdir` (cdk-nag on, as for a deploy); returns the template's path. */
function synth(local: boolean, outdir: string): string {
  const r = spawnSync('npx', ['--no-install', 'cdk', 'synth', '-q', '-o', outdir, '-c', `local=${local}`], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' },
  });
  if (r.status !== 0) throw new Error(`cdk synth -c local=${local} failed:\n${r.stdout}${r.stderr}`);
  const templates = readdirSync(outdir).filter((f) => f.endsWith('.template.json'));
  if (templates.length !== 1) throw new Error(`expected one template in ${outdir}, found ${templates.join(', ')}`);
  return path.join(outdir, templates[0]);
}

async function main(argv: string[]): Promise<void> {
  ensureCfnLint();
  if (argv[0] === 'install') return;
  const dir = mkdtempSync(path.join(tmpdir(), 'lenet-cfn-lint-'));
  try {
    const templates = [false, true].map((local) => synth(local, path.join(dir, local ? 'local' : 'aws')));
    const { status, output } = cfnLint(templates);
    console.log(output || `cfn-lint ${CFN_LINT_VERSION}: no errors, warnings or notes in the AWS and local templates`);
    process.exitCode = status;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
