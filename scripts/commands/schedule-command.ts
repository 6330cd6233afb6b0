import type { Command } from 'commander';
import { action } from '../cli-support.js';

// Placeholder until the owning issue lands: registers the command and says it is not built yet.
export function registerScheduleCommand(program: Command): void {
  program
    .command('schedule')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(
      action(async () => {
        throw new Error('showroom schedule is not built yet');
      }),
    );
}
