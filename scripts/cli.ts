#!/usr/bin/env -S node --max-semi-space-size=64
import { Command } from 'commander';
import { EXIT_USAGE } from './cli-support.js';
import { registerConfigCommand } from './commands/config-command.js';
import { registerCosmosCommand } from './commands/cosmos-command.js';
import { registerGenerateCommand } from './commands/generate-command.js';
import { registerBatchCommand } from './commands/batch-command.js';
import { registerRunsCommand } from './commands/runs-command.js';
import { registerEvaluateCommand } from './commands/evaluate-command.js';
import { registerImportCommand } from './commands/import-command.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerProfilesCommand } from './commands/profiles-command.js';
import { registerSinkCommand } from './commands/sink-command.js';
import { registerWorkerCommand } from './commands/worker-command.js';
import { registerScheduleCommand } from './commands/schedule-command.js';
import { registerReplayCommand } from './commands/replay-command.js';
import { registerBackfillCommand } from './commands/backfill-command.js';
import { registerBenchCommand } from './commands/bench-command.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { createLogger } from '../shared/telemetry/logger.js';
import { installProcessSafetyNet } from '../shared/telemetry/process-safety.js';
import { registerFuzzCommand } from './commands/fuzz-command.js';

/** Builds the `showroom` command line. Each command lives in `scripts/commands/<name>-command.ts`. */
export function buildProgram(): Command {
  const program = new Command('showroom')
    .description('showroom: hybrid online/offline vehicle personalization')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [
    registerDemoCommand,
    registerServeCommand,
    registerProfilesCommand,
    registerSinkCommand,
    registerWorkerCommand,
    registerBatchCommand,
    registerRunsCommand,
    registerScheduleCommand,
    registerGenerateCommand,
    registerImportCommand,
    registerEvaluateCommand,
    registerReplayCommand,
    registerBackfillCommand,
    registerBenchCommand,
    registerFuzzCommand,
    registerCosmosCommand,
    registerConfigCommand,
  ]) {
    register(program);
  }
  return program;
}

async function main(): Promise<void> {
  installProcessSafetyNet(createLogger({ level: process.env.SHOWROOM_LOG_LEVEL ?? 'info', name: 'showroom' }), { argv: process.argv.slice(2, 4) });
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') {
      process.exitCode = 0;
      return;
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = EXIT_USAGE;
      return;
    }
    throw err;
  }
}

// A command that fails without handling its error prints it and exits 1 (as Node would); anything
// failing later, outside a command's control flow, reaches the safety net (exit 70).
main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
