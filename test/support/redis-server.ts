import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './free-port.js';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL by default) and resolves once it exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same arguments. */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections open but answers nothing (a frozen Redis). */
  freeze(): void;
  /** SIGCONT: it runs on, carrying out what was sent meanwhile. */
  thaw(): void;
}

/**
 * A private `redis-server` (from the PATH) on a free loopback port, for fault tests.
 * Default arguments keep nothing on disk (`--save "" --appendonly no`); pass `args` to change that.
 */
export async function startRedisServer(args: string[] = ['--save', '', '--appendonly', 'no']): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      let stderr = '';
      const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child = proc;
      const deadline = Date.now() + 10_000;
      while (!(await accepts(port))) {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    freeze() {
      if (!child?.kill('SIGSTOP')) throw new Error('redis-server is not running');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    kill(signal = 'SIGKILL') {
      const proc = child;
      return new Promise<void>((resolve) => {
        if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill(signal);
      });
    },
  };
  await server.start();
  return server;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
