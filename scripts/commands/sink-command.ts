import type { Command } from 'commander';
import { action } from '../cli-support.js';

// Placeholder until the owning issue lands: registers the command and says it is not built yet.
export function registerSinkCommand(program: Command): void {
  program
    .command('sink')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(
      action(async () => {
        throw new Error('showroom sink is not built yet');
      }),
    );
}
