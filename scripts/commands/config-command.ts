import type { Command } from 'commander';
import { action } from '../cli-support.js';
import { redactedConfig, settingDocs } from '../../shared/config/config.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration (secrets redacted), or the settings table')
    .option('--markdown', 'print the documentation table of every setting (README format)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  showroom config\n  REDIS_URL=redis://cache:6379 showroom config --json\n  showroom config --markdown')
    .action(
      action<{ json?: boolean; markdown?: boolean }, unknown>(
        async (ctx, opts) => {
          if (opts.markdown) {
            const rows = settingDocs().map((s) => `| \`${s.env}\` | ${s.default === '' ? '(unset)' : `\`${s.default}\``} | ${s.doc} |`);
            return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
          }
          return redactedConfig(ctx.config);
        },
        (r) => (typeof r === 'string' ? r : Object.entries(r as Record<string, unknown>).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v ?? '')}`).join('\n')),
      ),
    );
}
