import { InvalidArgument, Unavailable, errorMessage } from '../errors/app-error.js';
import { BATCH_JOB, MAX_SHARDS, assertModelName, type BatchQueue, type NightlyJobData } from './batch-queue.js';

/** Defaults of every model's nightly schedule (config.nightlyCron / nightlyTimeZone). */
export interface ScheduleDefaults {
  /** Models that get a nightly run even without explicit settings (at least the default model). */
  models: string[];
  /** Cron pattern (5 fields, or 6 with seconds first). */
  cron: string;
  /** IANA time zone of the cron, e.g. `UTC`, `Europe/Berlin`. */
  tz: string;
  /** Score shards of nightly runs (default 1). */
  shards?: number;
}

/** A model's nightly schedule as showroom remembers it, and whether BullMQ has it. */
export interface ScheduleStatus {
  model: string;
  cron: string;
  tz: string;
  shards: number;
  paused: boolean;
  /** `custom`: set with `showroom schedule set`; `config`: SHOWROOM_NIGHTLY_CRON / _TZ. */
  source: 'config' | 'custom';
  /** A BullMQ job scheduler exists for the model. */
  registered: boolean;
  /** Next fire time (ISO-8601 UTC) when registered. */
  next?: string;
}

/** What `registerSchedulers` did per model. */
export interface RegisteredSchedule {
  model: string;
  action: 'registered' | 'updated' | 'unchanged' | 'paused';
  cron: string;
  tz: string;
  next?: string;
}

interface StoredSettings {
  cron?: string;
  tz?: string;
  shards?: number;
  paused?: boolean;
  updatedAt?: string;
}

/** Id of a model's BullMQ job scheduler. */
export const schedulerId = (model: string) => `nightly-${model}`;
const settingsKey = (batch: BatchQueue) => `${batch.keyPrefix}batch:schedules`;

async function readSettings(batch: BatchQueue): Promise<Map<string, StoredSettings>> {
  const raw = await batch.redis.hgetall(settingsKey(batch));
  const out = new Map<string, StoredSettings>();
  for (const [model, json] of Object.entries(raw)) {
    try {
      out.set(model, JSON.parse(json) as StoredSettings);
    } catch {
      out.set(model, {});
    }
  }
  return out;
}

function effective(model: string, stored: StoredSettings | undefined, defaults: ScheduleDefaults) {
  return {
    model,
    cron: stored?.cron ?? defaults.cron,
    tz: stored?.tz ?? defaults.tz,
    shards: stored?.shards ?? defaults.shards ?? 1,
    paused: stored?.paused ?? false,
    source: (stored?.cron !== undefined || stored?.tz !== undefined ? 'custom' : 'config') as 'config' | 'custom',
  };
}

/** Throws InvalidArgument unless `tz` is an IANA time zone this Node knows. */
export function assertTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidArgument(`unknown time zone "${tz}" (use an IANA name such as UTC or Europe/Berlin)`, [{ field: 'tz', message: 'IANA time zone' }]);
  }
}

/** Throws InvalidArgument unless `cron` has 5 fields (or 6 with seconds). BullMQ validates the rest. */
export function assertCron(cron: string): void {
  const fields = cron.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) {
    throw new InvalidArgument(`cron "${cron}" must have 5 fields (minute hour day month weekday) or 6 with seconds`, [{ field: 'cron', message: '5 or 6 fields' }]);
  }
}

async function upsert(batch: BatchQueue, s: { model: string; cron: string; tz: string; shards: number }) {
  try {
    await batch.queue.upsertJobScheduler(
      schedulerId(s.model),
      { pattern: s.cron, tz: s.tz },
      {
        name: BATCH_JOB.nightly,
        data: { model: s.model, shards: s.shards } satisfies NightlyJobData,
        opts: { removeOnComplete: { age: 30 * 24 * 3600, count: 500 }, removeOnFail: { age: 30 * 24 * 3600, count: 500 } },
      },
    );
  } catch (err) {
    const message = errorMessage(err);
    if (/cron|pattern|invalid|validation|constraint|expected/i.test(message)) {
      throw new InvalidArgument(`BullMQ rejected cron "${s.cron}" (tz ${s.tz}): ${message}`, [{ field: 'cron', message }], err);
    }
    throw new Unavailable(`could not register the nightly schedule of ${s.model}: ${message}`, err);
  }
}

/**
 * Registers one job scheduler per model (`nightly-<model>`), idempotently: a scheduler whose
 * cron, time zone and shards already match is left untouched, so a night that was missed while
 * no worker ran stays queued and runs once when a worker comes back (re-upserting would drop it);
 * a paused model's scheduler is removed. Call it at every worker start.
 */
export async function registerSchedulers(batch: BatchQueue, defaults: ScheduleDefaults): Promise<RegisteredSchedule[]> {
  const stored = await readSettings(batch);
  const models = [...new Set([...defaults.models, ...stored.keys()])].sort();
  const out: RegisteredSchedule[] = [];
  for (const model of models) {
    const s = effective(model, stored.get(model), defaults);
    const id = schedulerId(model);
    if (s.paused) {
      await batch.queue.removeJobScheduler(id);
      out.push({ model, action: 'paused', cron: s.cron, tz: s.tz });
      continue;
    }
    const existing = await batch.queue.getJobScheduler(id);
    const same =
      existing !== undefined &&
      existing.pattern === s.cron &&
      (existing.tz ?? 'UTC') === s.tz &&
      (existing.template?.data as NightlyJobData | undefined)?.shards === s.shards &&
      existing.next !== undefined;
    if (!same) await upsert(batch, s);
    const now = await batch.queue.getJobScheduler(id);
    out.push({
      model,
      action: same ? 'unchanged' : existing ? 'updated' : 'registered',
      cron: s.cron,
      tz: s.tz,
      next: now?.next ? new Date(now.next).toISOString() : undefined,
    });
  }
  return out;
}

/** Every model's schedule (configured defaults and explicit settings), with BullMQ's next fire time. */
export async function listSchedules(batch: BatchQueue, defaults: ScheduleDefaults): Promise<ScheduleStatus[]> {
  const stored = await readSettings(batch);
  const schedulers = await batch.queue.getJobSchedulers(0, -1, true);
  const byId = new Map(schedulers.map((j) => [j.key, j]));
  const models = [...new Set([...defaults.models, ...stored.keys()])].sort();
  return models.map((model) => {
    const s = effective(model, stored.get(model), defaults);
    const j = byId.get(schedulerId(model));
    return { ...s, registered: j !== undefined, next: j?.next ? new Date(j.next).toISOString() : undefined };
  });
}

/**
 * Sets a model's nightly cron and time zone (and shards), remembers them in Redis and registers
 * the scheduler at once (unless the model is paused; the settings then apply on resume).
 */
export async function setSchedule(
  batch: BatchQueue,
  model: string,
  settings: { cron: string; tz: string; shards?: number },
  defaults: ScheduleDefaults,
): Promise<ScheduleStatus> {
  assertModelName(model);
  assertCron(settings.cron);
  assertTimeZone(settings.tz);
  if (settings.shards !== undefined && (!Number.isInteger(settings.shards) || settings.shards < 1 || settings.shards > MAX_SHARDS)) {
    throw new InvalidArgument(`shards must be between 1 and ${MAX_SHARDS}`, [{ field: 'shards', message: `1..${MAX_SHARDS}` }]);
  }
  const stored = (await readSettings(batch)).get(model) ?? {};
  const next: StoredSettings = { ...stored, cron: settings.cron, tz: settings.tz, updatedAt: new Date().toISOString() };
  if (settings.shards !== undefined) next.shards = settings.shards;
  const s = effective(model, next, defaults);
  if (!s.paused) await upsert(batch, s);
  await batch.redis.hset(settingsKey(batch), model, JSON.stringify(next));
  return statusOf(batch, model, defaults);
}

/** Removes the model's scheduler and remembers its settings (and the pause) for `resumeSchedule`. */
export async function pauseSchedule(batch: BatchQueue, model: string, defaults: ScheduleDefaults): Promise<ScheduleStatus> {
  assertModelName(model);
  const stored = (await readSettings(batch)).get(model) ?? {};
  await batch.redis.hset(settingsKey(batch), model, JSON.stringify({ ...stored, paused: true, updatedAt: new Date().toISOString() }));
  await batch.queue.removeJobScheduler(schedulerId(model));
  return statusOf(batch, model, defaults);
}

/** Registers the model's scheduler again with its remembered settings. */
export async function resumeSchedule(batch: BatchQueue, model: string, defaults: ScheduleDefaults): Promise<ScheduleStatus> {
  assertModelName(model);
  const stored = (await readSettings(batch)).get(model) ?? {};
  const next: StoredSettings = { ...stored, updatedAt: new Date().toISOString() };
  delete next.paused;
  await upsert(batch, effective(model, next, defaults));
  await batch.redis.hset(settingsKey(batch), model, JSON.stringify(next));
  return statusOf(batch, model, defaults);
}

async function statusOf(batch: BatchQueue, model: string, defaults: ScheduleDefaults): Promise<ScheduleStatus> {
  const all = await listSchedules(batch, { ...defaults, models: [...defaults.models, model] });
  const s = all.find((x) => x.model === model);
  if (!s) throw new Unavailable(`schedule of ${model} vanished`);
  return s;
}
