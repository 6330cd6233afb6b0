import { Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One Prometheus registry per process, built by the composition root and passed down.
 * Components register their own metrics on it (`new Counter({ registers: [registry], ... })`).
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean; prefix?: string } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: options.prefix ?? 'showroom_' });
  return registry;
}

/** Returns the metric already registered under `name`, or creates it with `make`. */
export function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  const existing = registry.getSingleMetric(name);
  return (existing as T | undefined) ?? make();
}
