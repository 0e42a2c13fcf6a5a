/**
 * `lenet history` (GET /models/history: every change of the served model, newest first) and
 * `lenet rollback [jobId]` (POST /models/rollback: serve the previous model again, or a named
 * earlier one; needs the ModelAdmin policy).
 */
import type { Command } from 'commander';
import type { ApiClient } from './api-client';
import type { LatestModel, ServedModelChange } from '../shared/documents';

const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
const model = (m?: { jobId: string; testAccuracy: number }) => (m ? `${m.jobId} (${m.testAccuracy.toFixed(4)})` : '-');

/** One row of the history table. */
export const historyRow = (c: ServedModelChange) => ({ at: c.at, why: c.why, from: model(c.from), to: model(c.to), by: c.by });

export function registerHistory(program: Command, client: () => Promise<ApiClient>): void {
  program
    .command('history')
    .description('list every change of the served model, newest first: when, why, from, to, who')
    .option('--limit <n>', 'changes per page (1-100)', (v) => Number(v))
    .option('--next <token>', 'the page after the one that printed this token')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { limit?: number; next?: string; json?: boolean }) => {
      const page = await (await client()).history({ limit: opts.limit, next: opts.next });
      if (opts.json) return print(page);
      if (page.changes.length === 0) console.log('no model has been served yet');
      else console.table(page.changes.map(historyRow));
      if (page.next) console.log(`more: lenet history --next ${page.next}`);
    });

  program
    .command('rollback [jobId]')
    .description('serve the model served before the current one again, or the earlier model of jobId (ModelAdmin)')
    .option('--json', 'print the new served-model pointer as JSON')
    .action(async (jobId: string | undefined, opts: { json?: boolean }) => {
      const pointer: LatestModel = await (await client()).rollback(jobId);
      if (opts.json) return print(pointer);
      console.log(`now serving ${model(pointer)}, rolled back from ${model(pointer.from)}`);
    });
}
