import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-generator.js';
import type { ProcessStats } from './bench-server.js';

export type { LoadResult, LoadSpec } from './load-generator.js';
export type { ProcessStats } from './bench-server.js';

/** A child process of the benchmark (server under test, embedded Cosmos, load generator). */
export interface BenchChild {
  pid: number;
  /** The first JSON line the child printed on stdout (e.g. `{url}` / `{endpoint}`). */
  info: Record<string, unknown>;
  /** Peak resident set so far (Linux `VmHWM`), bytes; undefined elsewhere or once exited. */
  peakRssBytes(): number | undefined;
  /** The child's event-loop delay and GC pauses since the previous call (or its start); starts a new window. */
  stats(): Promise<ProcessStats>;
  /** SIGTERM, waits for the exit (SIGKILL after 15 s); resolves the peak RSS seen (bytes). Idempotent. */
  stop(): Promise<number | undefined>;
}

const HERE = fileURLToPath(import.meta.url);
const EXT = path.extname(HERE);

/**
 * `node` arguments running a sibling module of this folder (`name` without extension) or any
 * module given relative to it: under tsx (the `.ts` sources) with `--import tsx`, built (`.js`) as is.
 */
export function nodeArgs(relative: string): string[] {
  const file = path.resolve(path.dirname(HERE), `${relative}${EXT}`);
  return EXT === '.ts' ? ['--import', import.meta.resolve('tsx'), file] : [file];
}

/** Peak RSS (`VmHWM`) of a live process in bytes, from /proc (Linux); undefined when unavailable. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets this process's peak RSS (Linux ≥ 4.0 `clear_refs` 5) so a later `ownPeakRss` covers one phase; no-op elsewhere. */
export function resetOwnPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux, or not permitted
  }
}

/** This process's peak RSS in bytes: VmHWM since start or the last reset; `resourceUsage().maxRSS` elsewhere. */
export function ownPeakRss(): number {
  return peakRssOf(process.pid) ?? process.resourceUsage().maxRSS * 1024;
}

/**
 * Starts `node <nodeArgs(relative)> ...args` and resolves once it printed its first JSON line on
 * stdout (rejects when it exits first or after `timeoutMs`, default 120 s); `nodeFlags` go before the module (e.g. `--cpu-prof`). Its stderr is read and
 * dropped (the tail goes into the error when it fails to start).
 * The child gets an IPC channel so it can notice the benchmark dying (`disconnect`).
 */
export async function startBenchChild(relative: string, args: string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number; nodeFlags?: string[] } = {}): Promise<BenchChild> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeFlags ?? []), ...nodeArgs(relative), ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const lines: Record<string, unknown>[] = [];
  // stderr (logs) is kept for error messages only: the last 4 kB.
  let errTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    errTail = (errTail + d.toString()).slice(-4096);
  });
  let buffer = '';
  let onLine: (() => void) | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        onLine?.();
      } catch {
        // not ours
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onParentExit = () => child.kill('SIGKILL');
  process.once('exit', onParentExit);
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${relative} ${args.join(' ')} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    onLine = () => {
      clearTimeout(timer);
      onLine = undefined;
      resolve(lines[0]!);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${relative} ${args.join(' ')} exited with ${code} before it was ready: ${errTail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  let peak = peakRssOf(child.pid!);
  let stopping: Promise<number | undefined> | undefined;
  return {
    pid: child.pid!,
    info,
    stats: () =>
      new Promise<ProcessStats>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error(`${relative} did not report its stats within 10 s`));
        }, 10_000);
        const onMessage = (m: unknown) => {
          const stats = (m as { stats?: ProcessStats } | null)?.stats;
          if (!stats) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(stats);
        };
        child.on('message', onMessage);
        child.send('stats');
      }),
    peakRssBytes: () => {
      peak = Math.max(peak ?? 0, peakRssOf(child.pid!) ?? 0) || undefined;
      return peak;
    },
    stop() {
      stopping ??= (async () => {
        peak = Math.max(peak ?? 0, peakRssOf(child.pid!) ?? 0) || undefined;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timer);
        }
        process.off('exit', onParentExit);
        for (const l of lines) if (typeof l.peakRssBytes === 'number') peak = Math.max(peak ?? 0, l.peakRssBytes);
        return peak;
      })();
      return stopping;
    },
  };
}

/** Runs one autocannon load in its own process (load-generator.ts) and resolves its result. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs('load-generator'), {
      env: { ...process.env, SHOWROOM_BENCH_LOAD: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        const r = JSON.parse(out) as LoadResult & { error?: string };
        if (r.error) reject(new Error(`load generator: ${r.error}`));
        else resolve(r);
      } catch {
        reject(new Error(`load generator exited with ${code}: ${out.slice(0, 200)}`));
      }
    });
  });
}
