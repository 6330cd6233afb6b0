import path from 'node:path';
import type { Command } from 'commander';
import { action, intOption } from '../cli-support.js';
import { startEmbeddedCosmos } from '../../shared/prediction-store/embedded-cosmos-launcher.js';
import { errorMessage } from '../../shared/errors/app-error.js';

interface CosmosOptions {
  json?: boolean;
  port: number;
  host: string;
  data?: string;
  saveEvery: number;
}

export interface CosmosCommandResult {
  endpoint: string;
  port: number;
  dataDir: string | null;
  saved?: { databases: number; containers: number; documents: number };
}

/**
 * `showroom cosmos`: the embedded Cosmos DB server (`@vercel/cosmosdb-server`) in the foreground,
 * where every showroom command looks when COSMOS_ENDPOINT is unset. With `--data` the containers
 * are loaded at start and saved on Ctrl-C / SIGTERM (and every `--save-every` seconds).
 */
export function registerCosmosCommand(program: Command): void {
  program
    .command('cosmos')
    .description('run the embedded Cosmos DB server in the foreground (where showroom looks when COSMOS_ENDPOINT is unset)')
    .option('--port <port>', 'TCP port (0 = a free port)', intOption('port', 0, 65535), 8081)
    .option('--host <address>', 'bind address', '127.0.0.1')
    .option('--data <dir>', 'load containers from this folder at start and save them there on shutdown (default: memory only)')
    .option('--save-every <seconds>', 'also save every N seconds with --data (0 = only on shutdown)', intOption('save-every', 0, 86_400), 0)
    .option('--json', 'print {endpoint, port, dataDir} on one line once listening, and a summary on exit')
    .addHelpText(
      'after',
      [
        '',
        'The server keeps everything in memory; --data makes predictions survive a restart.',
        'Its certificate is self-signed: showroom accepts it for 127.0.0.1/localhost only.',
        '',
        'Examples:',
        '  showroom cosmos                          # https://127.0.0.1:8081, in memory',
        '  showroom cosmos --data ./data/cosmos     # load at start, save on Ctrl-C',
        '  showroom cosmos --port 0 --json          # a free port, machine-readable',
        '  COSMOS_ENDPOINT=https://127.0.0.1:9000 showroom batch run   # with: showroom cosmos --port 9000',
      ].join('\n'),
    )
    .action(
      action<CosmosOptions, CosmosCommandResult>(
        async (ctx, opts) => {
          const dataDir = opts.data ? path.resolve(opts.data) : undefined;
          const server = await startEmbeddedCosmos({ host: opts.host, port: opts.port, dataDir, logger: ctx.logger });
          const info = { endpoint: server.endpoint, port: server.port, dataDir: dataDir ?? null };
          if (ctx.json) process.stdout.write(`${JSON.stringify(info)}\n`);
          else {
            process.stdout.write(`embedded Cosmos DB listening at ${server.endpoint}\n`);
            if (dataDir) process.stdout.write(`data: ${dataDir} (${server.loadedDocuments} documents loaded; saved on Ctrl-C)\n`);
            else process.stdout.write('data: memory only (use --data <dir> to keep it across restarts)\n');
            if (server.endpoint !== 'https://127.0.0.1:8081') process.stdout.write(`other terminals: export COSMOS_ENDPOINT=${server.endpoint}\n`);
            process.stdout.write('Ctrl-C to stop\n');
          }
          let saving: Promise<unknown> | undefined;
          const timer =
            dataDir && opts.saveEvery > 0
              ? setInterval(() => {
                  saving ??= server
                    .save()
                    .catch((err: unknown) => ctx.logger.error({ err }, `periodic save failed: ${errorMessage(err)}`))
                    .finally(() => {
                      saving = undefined;
                    });
                }, opts.saveEvery * 1000)
              : undefined;
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          if (timer) clearInterval(timer);
          await saving;
          if (dataDir) process.stderr.write(`saving to ${dataDir} ...\n`);
          await server.stop({ save: false });
          const saved = await server.save();
          if (dataDir) process.stderr.write(`saved ${saved.documents} documents in ${saved.containers} containers\n`);
          return { ...info, ...(dataDir ? { saved } : {}) };
        },
        (r) => `stopped${r.saved ? ` (saved ${r.saved.documents} documents to ${r.dataDir})` : ''}`,
      ),
    );
}
