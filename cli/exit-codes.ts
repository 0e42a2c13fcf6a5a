/**
 * The CLI's exit codes, one per kind of failure, so scripts can tell them apart (README, "CLI").
 */
import { CommanderError } from 'commander';
import { ApiError } from './api-client';

export const EXIT = {
  ok: 0,
  /** The job or the request failed (a FAILED job, a refused or failed request). */
  failed: 1,
  /** Bad usage: an unknown option, a bad value, a file that cannot be read or sent. */
  usage: 2,
  /** The job, model or stack asked for does not exist. */
  notFound: 3,
  /** No credentials, refused credentials, or the API cannot be reached. */
  authOrNetwork: 4,
  /** Ctrl-C while watching a job, declining to cancel it (the shell's 128 + SIGINT). */
  interrupted: 130,
} as const;

/** The user pressed Ctrl-C while watching a job and left it running. */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** A mistake in how the CLI was called, found before any request. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof InterruptedError) return EXIT.interrupted;
  if (err instanceof ApiError) {
    if (err.status === 0 || err.status === 401 || err.status === 403) return EXIT.authOrNetwork;
    if (err.status === 404) return EXIT.notFound;
  }
  return EXIT.failed;
}
