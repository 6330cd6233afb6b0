import type { Command } from 'commander';
import { action } from '../cli-support.js';

// Placeholder until the owning issue lands: registers the command and says it is not built yet.
export function registerProfilesCommand(program: Command): void {
  program
    .command('profiles')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(
      action(async () => {
        throw new Error('showroom profiles is not built yet');
      }),
    );
}
