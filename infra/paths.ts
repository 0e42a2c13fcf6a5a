import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the directory above `infra/`), independent of the cwd. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
