import type { Command } from 'commander';
import { action } from '../cli-support.js';

// Placeholder until the owning issue lands: registers the command and says it is not built yet.
export function registerBackfillCommand(program: Command): void {
  program
    .command('backfill')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(
      action(async () => {
        throw new Error('showroom backfill is not built yet');
      }),
    );
}
