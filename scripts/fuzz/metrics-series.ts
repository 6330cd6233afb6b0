/**
 * Series of a Prometheus text exposition (what `/metrics` answers), counted the way a TSDB
 * stores them: one series per metric and label set, a histogram's `_bucket`/`_sum`/`_count`
 * lines and its `le` buckets folded into the one series they belong to.
 */

export interface SeriesCount {
  /** Series over every metric. */
  total: number;
  /** Series per metric family. */
  byMetric: Record<string, number>;
  /** Distinct values per `metric.label`. */
  labelValues: Record<string, number>;
  /** Up to 5 sample values per `metric.label` (to show what an unbounded label carries). */
  samples: Record<string, string[]>;
}

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

/** Parses `a="x",b="y\"z"` (the part inside braces). */
function parseLabels(s: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const name = s.slice(i, eq).trim().replace(/^,/, '').trim();
    let j = eq + 2;
    let value = '';
    while (j < s.length && s[j] !== '"') {
      if (s[j] === '\\' && j + 1 < s.length) {
        const n = s[j + 1];
        value += n === 'n' ? '\n' : n;
        j += 2;
      } else value += s[j++];
    }
    out.push([name, value]);
    i = j + 1;
    while (i < s.length && (s[i] === ',' || s[i] === ' ')) i++;
  }
  return out;
}

/** Counts the series of a `/metrics` body. */
export function countSeries(text: string): SeriesCount {
  const families = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m) families.set(m[1], m[2]);
  }
  const familyOf = (name: string): string => {
    if (families.has(name)) return name;
    for (const s of SUFFIXES) if (name.endsWith(s) && families.has(name.slice(0, -s.length))) return name.slice(0, -s.length);
    return name;
  };
  const series = new Map<string, Set<string>>();
  const values = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const family = familyOf(line.slice(0, nameEnd));
    let labels: [string, string][] = [];
    if (nameEnd === brace) {
      const close = line.lastIndexOf('}');
      labels = parseLabels(line.slice(brace + 1, close)).filter(([k]) => k !== 'le' && k !== 'quantile');
    }
    const key = labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).sort().join(',');
    let set = series.get(family);
    if (!set) series.set(family, (set = new Set()));
    set.add(key);
    for (const [k, v] of labels) {
      const lk = `${family}.${k}`;
      let vs = values.get(lk);
      if (!vs) values.set(lk, (vs = new Set()));
      vs.add(v);
    }
  }
  const byMetric: Record<string, number> = {};
  let total = 0;
  for (const [family, set] of series) {
    byMetric[family] = set.size;
    total += set.size;
  }
  const labelValues: Record<string, number> = {};
  const samples: Record<string, string[]> = {};
  for (const [k, vs] of values) {
    labelValues[k] = vs.size;
    samples[k] = [...vs].slice(0, 5).map((v) => (v.length > 80 ? `${v.slice(0, 80)}…` : v));
  }
  return { total, byMetric, labelValues, samples };
}
