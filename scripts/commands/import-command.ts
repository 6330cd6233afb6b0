import type { Command } from 'commander';
import { EVENT_TYPES, type EventType } from '../../shared/domain/event.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { importEvents, inferFormat, parseMapping, type ImportReport } from '../../offline/import/event-import.js';
import { action, numberOption, UsageError } from '../cli-support.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';

interface ImportCommandOptions {
  format?: string;
  map?: string;
  type?: string;
  rejects?: string;
  catalogFromItems?: boolean;
  maxRejectRatio?: number;
  json?: boolean;
}

function human(r: ImportReport): string {
  const lines = [`${r.file} (${r.format}): ${r.rows} rows, ${r.imported} imported into ${r.partitions} hour partitions, ${r.rejected} rejected`];
  if (r.range) lines.push(`events from ${r.range.from} to ${r.range.to}`);
  if (r.catalogSnapshot) lines.push(`catalog snapshot ${r.catalogSnapshot}`);
  for (const x of r.rejects.slice(0, 10)) lines.push(`  line ${x.line}: ${x.errors.join('; ')}`);
  if (r.rejected > 10) lines.push(`  ... ${r.rejected - 10} more${r.rejectsFile ? ` in ${r.rejectsFile}` : ' (use --rejects <file>)'}`);
  return lines.join('\n');
}

export function registerImportCommand(program: Command): void {
  program
    .command('import <file>')
    .description('Load interaction history (CSV, JSONL, Parquet) into the lake, validating every row with the event schema')
    .option('--format <format>', 'csv | jsonl | parquet (default: from the extension)')
    .option('--map <mapping>', 'field=column[:conversion],... fields: eventId,type,customerId,vehicleId,sessionId,occurredAt,value,price; occurredAt conversions: iso,unix,unixms')
    .option('--type <type>', `event type of every row when no column is mapped to type (${EVENT_TYPES.join(', ')})`)
    .option('--rejects <file>', 'write rejected rows (JSONL: line, errors, record) to this file')
    .option('--catalog-from-items', 'also write a catalog snapshot naming every imported vehicle (datasets without a catalog)')
    .option('--max-reject-ratio <r>', 'import nothing when more than this share of rows is rejected', numberOption('max-reject-ratio', 0, 1))
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText(
      'after',
      `
Columns named like the fields (customerId, vehicleId, occurredAt, ...) are used without --map.
eventId is derived from the row's content when not mapped, so importing a file twice is idempotent.
properties.value multiplies the event-type weight (e.g. a rating).

Examples:
  showroom import ratings.csv --map customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix,value=rating --type view
  showroom import events.jsonl --rejects rejects.jsonl
  showroom import history.parquet --map customerId=cust,vehicleId=vin,occurredAt=ts --type lead --json`,
    )
    .action(
      action<ImportCommandOptions, ImportReport>(async (ctx, o, args) => {
        const file = args[0];
        if (!file) throw new UsageError('name the file to import');
        if (o.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(o.type)) throw new UsageError(`--type must be one of ${EVENT_TYPES.join(', ')}`);
        let mapping;
        let format;
        try {
          mapping = parseMapping(o.map);
          format = inferFormat(file, o.format);
        } catch (err) {
          if (err instanceof InvalidArgument) throw new UsageError(err.message);
          throw err;
        }
        const lake = createLake(ctx.config);
        return importEvents({
          lake,
          file,
          format,
          mapping,
          type: o.type as EventType | undefined,
          rejectsFile: o.rejects,
          catalogFromItems: o.catalogFromItems,
          maxRejectRatio: o.maxRejectRatio,
          signal: ctx.signal,
        });
      }, human),
    );
}
