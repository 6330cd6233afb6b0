import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Room rules (README "Layout"): `online/` and `offline/` never import each other, `shared/`
 * imports neither of them nor `scripts/`, and the SDK packages are imported only by the adapter
 * files listed here — everything else goes through a port.
 */
const SDK_PACKAGES = ['@azure/*', 'ioredis', 'bullmq', '@duckdb/*', '@dsnp/parquetjs'];

/** The files that may import an SDK package, each with its reason. */
const ADAPTERS = [
  'shared/event-log/event-hubs-event-log.ts', // EventLog over Azure Event Hubs
  'shared/lake/blob-lake.ts', // Lake over Azure Blob storage
  'shared/lake/parquet-codec.ts', // the lake's Parquet encoding (@dsnp/parquetjs)
  'shared/prediction-store/cosmos-prediction-store.ts', // PredictionStore over Azure Cosmos DB
  'shared/profile-store/redis-profile-store.ts', // ProfileStore over Redis
  'shared/queue/batch-queue.ts', // the batch queue over BullMQ
  'shared/queue/queues-board.ts', // Bull Board over the BullMQ queues
  'shared/redis/lua-script.ts', // EVALSHA with NOSCRIPT fallback (ioredis)
  'shared/redis/redis-connection.ts', // the one place Redis connections are made
  'offline/lake-reader/duckdb-lake-reader.ts', // the lake reader over DuckDB
  'offline/import/event-import.ts', // reads users' Parquet files through DuckDB
  'offline/worker/**', // the BullMQ driver of the batch run
  'scripts/generate/duckdb-dataset-writer.ts', // writes the generated lake through DuckDB
  'scripts/measure/**', // measures the SDKs themselves, bare
];

const sdkOnlyInAdapters = { group: SDK_PACKAGES, message: 'SDK packages are imported only by adapter files (ADAPTERS in eslint.config.js): use the port.' };

/** `no-restricted-imports` for a room: its forbidden rooms, plus the SDK rule outside adapters. */
function room(files, forbidden, message) {
  const rooms = forbidden.length > 0 ? [{ group: forbidden, message }] : [];
  const adapters = ADAPTERS.filter((a) => files.some((f) => a.startsWith(f.replace('/**/*.ts', '/'))));
  return [
    { files, ignores: ADAPTERS, rules: { 'no-restricted-imports': ['error', { patterns: [...rooms, sdkOnlyInAdapters] }] } },
    ...(rooms.length > 0 && adapters.length > 0 ? [{ files: adapters, rules: { 'no-restricted-imports': ['error', { patterns: rooms }] } }] : []),
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off',
    },
  },
  ...room(['online/**/*.ts'], ['**/offline/**', '**/scripts/**'], 'online/ never imports offline/ or scripts/: share through shared/.'),
  ...room(['offline/**/*.ts'], ['**/online/**', '**/scripts/**'], 'offline/ never imports online/ or scripts/: share through shared/.'),
  ...room(['shared/**/*.ts'], ['**/online/**', '**/offline/**', '**/scripts/**'], 'shared/ imports no room above it (online/, offline/, scripts/).'),
  ...room(['scripts/**/*.ts'], [], ''),
);
