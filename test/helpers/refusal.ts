import assert from 'node:assert/strict';
import { ApiError } from '../../cli/api-client';

/** The HTTP status and message of an API call that must be refused; fails the test if it is not. */
export async function refusal(call: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, message: err.message };
    throw err;
  }
  assert.fail('the call was not refused');
}
