import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs a snippet in a child Node process with the safety net installed; returns its exit and stderr. */
function runChild(snippet: string): { status: number | null; stderr: string } {
  const code = `
    import { createLogger } from './shared/telemetry/logger.ts';
    import { installProcessSafetyNet } from './shared/telemetry/process-safety.ts';
    installProcessSafetyNet(createLogger({ name: 'child' }), { role: 'test' });
    ${snippet}
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

function fatalLine(stderr: string): Record<string, unknown> {
  const line = stderr.split('\n').find((l) => l.includes('"level":60'));
  assert.ok(line, `a fatal log line on stderr, got:\n${stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('process safety net', () => {
  it('an uncaught exception is logged at fatal with its context and the process exits 70', () => {
    const r = runChild(`setTimeout(() => { throw new Error('boom in a timer'); }, 10); setInterval(() => {}, 1000);`);
    assert.equal(r.status, 70);
    const log = fatalLine(r.stderr);
    assert.equal(log.kind, 'uncaughtException');
    assert.equal(log.role, 'test');
    assert.match(JSON.stringify(log.err), /boom in a timer/);
  });

  it('an unhandled rejection is logged at fatal and the process exits 70 instead of running on', () => {
    const r = runChild(`void Promise.reject(new Error('lost promise')); setInterval(() => {}, 1000);`);
    assert.equal(r.status, 70);
    const log = fatalLine(r.stderr);
    assert.equal(log.kind, 'unhandledRejection');
    assert.match(JSON.stringify(log.err), /lost promise/);
  });
});
