import { Counter, Gauge, type Registry } from 'prom-client';
import { getOrCreate } from '../telemetry/metrics.js';
import type { PartitionLag } from './event-log.js';

/** What the lag gauge asks on every scrape: the groups to report and their per-partition lag. */
export interface LagSource {
  lagGroups(): string[];
  lag(group: string): Promise<PartitionLag[]>;
}

const sourcesByRegistry = new WeakMap<Registry, Set<LagSource>>();

/**
 * Event-log metrics shared by every EventLog adapter, registered once per registry:
 * - `showroom_event_log_appended_total` (events appended and confirmed durable),
 * - `showroom_event_log_delivered_total{group}` (events whose batch handler resolved),
 * - `showroom_event_log_lag{group,partition}` (events not yet checkpointed; collected on scrape
 *   from every log registered with `watchLag`).
 */
export class EventLogMetrics {
  private readonly appended?: Counter;
  private readonly delivered?: Counter<'group'>;
  private readonly registry?: Registry;

  constructor(registry?: Registry) {
    this.registry = registry;
    if (!registry) return;
    this.appended = getOrCreate(
      registry,
      'showroom_event_log_appended_total',
      () => new Counter({ name: 'showroom_event_log_appended_total', help: 'Events appended to the event log and confirmed durable', registers: [registry] }),
    );
    this.delivered = getOrCreate(
      registry,
      'showroom_event_log_delivered_total',
      () =>
        new Counter({
          name: 'showroom_event_log_delivered_total',
          help: 'Events delivered to a subscriber whose handler resolved (checkpointed)',
          labelNames: ['group'] as const,
          registers: [registry],
        }),
    );
    getOrCreate(registry, 'showroom_event_log_lag', () => {
      const sources = new Set<LagSource>();
      sourcesByRegistry.set(registry, sources);
      return new Gauge({
        name: 'showroom_event_log_lag',
        help: 'Events appended but not yet checkpointed by a consumer group, per partition',
        labelNames: ['group', 'partition'] as const,
        registers: [registry],
        async collect() {
          this.reset();
          for (const source of sources) {
            for (const group of source.lagGroups()) {
              try {
                for (const p of await source.lag(group)) this.set({ group, partition: p.partition }, p.lag);
              } catch {
                // the log is unreachable: report nothing rather than failing the scrape
              }
            }
          }
        },
      });
    });
  }

  appendedEvents(n: number): void {
    this.appended?.inc(n);
  }

  deliveredEvents(group: string, n: number): void {
    this.delivered?.inc({ group }, n);
  }

  /** Reports `source`'s lag on scrape until `unwatchLag`. */
  watchLag(source: LagSource): void {
    if (this.registry) sourcesByRegistry.get(this.registry)?.add(source);
  }

  unwatchLag(source: LagSource): void {
    if (this.registry) sourcesByRegistry.get(this.registry)?.delete(source);
  }
}
