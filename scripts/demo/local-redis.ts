import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createRedis, pingRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { Unavailable } from '../../shared/errors/app-error.js';

export interface DemoRedis {
  url: string;
  /** True when the demo started its own redis-server (stopped by `stop()`). */
  owned: boolean;
  stop(): Promise<void>;
}

/**
 * Makes sure a Redis answers for the demo: the configured REDIS_URL when it answers; otherwise,
 * when `redis-server` is on the PATH, a private one on a free loopback port (no persistence),
 * stopped on exit; otherwise an Unavailable with one line saying how to get Redis.
 */
export async function ensureDemoRedis(configuredUrl: string): Promise<DemoRedis> {
  if (await answers(configuredUrl)) return { url: configuredUrl, owned: false, stop: async () => {} };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Unavailable(
      `no Redis answers at ${configuredUrl} and redis-server is not on the PATH: install it (apt-get install redis-server) or set REDIS_URL`,
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Unavailable(`could not start redis-server on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  return {
    url,
    owned: true,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', onExit);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function answers(url: string): Promise<boolean> {
  const redis = createRedis(url, 'demo-probe', { retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await waitForRedis(redis, 1000);
    await pingRedis(redis, 1000);
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
