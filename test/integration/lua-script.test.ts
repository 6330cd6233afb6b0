import assert from 'node:assert/strict';
import { luaScript } from '../../shared/redis/lua-script.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

describe('luaScript (EVALSHA with EVAL fallback, private redis-server)', () => {
  let server: RedisServer;
  let redis: Redis;
  const incrBy = luaScript('incr by', `return redis.call('INCRBY', KEYS[1], ARGV[1])`, 1);

  before(async () => {
    server = await startRedisServer();
    redis = createRedis(server.url, 'test-lua-script');
    await waitForRedis(redis);
  });
  after(async () => {
    redis.disconnect();
    await server.kill();
  });

  it('runs on a connection, then on pipelines created before and after it was first used, by SHA after the first call', async () => {
    const early = redis.pipeline();
    incrBy.run(early, ['k'], [2]);
    assert.deepEqual(await early.exec(), [[null, 2]]);
    assert.equal(await incrBy.call(redis, ['k'], [3]), 5);
    const late = redis.pipeline();
    incrBy.run(late, ['k'], [4]);
    incrBy.run(late, ['k'], [1]);
    assert.deepEqual(await late.exec(), [[null, 9], [null, 10]]);
    const stats = (await redis.info('commandstats')) as string;
    assert.match(stats, /cmdstat_evalsha:calls=[1-9]/, 'later calls go by SHA');
  });

  it('takes any number of keys when the count is not fixed', async () => {
    const sum = luaScript('sum keys', `local n = 0 for i = 1, #KEYS do n = n + tonumber(redis.call('GET', KEYS[i]) or '0') end return n + tonumber(ARGV[1])`);
    await redis.mset('a1', '1', 'a2', '2', 'a3', '3');
    assert.equal(await sum.call(redis, ['a1', 'a2', 'a3'], [10]), 16);
    const p = redis.pipeline();
    sum.run(p, ['a1'], [0]);
    sum.run(p, [], [5]);
    assert.deepEqual(await p.exec(), [[null, 1], [null, 5]]);
  });

  it('recovers when Redis forgot the script (SCRIPT FLUSH): the body is sent again', async () => {
    await redis.set('f', '0');
    assert.equal(await incrBy.call(redis, ['f'], [1]), 1);
    await redis.script('FLUSH');
    assert.equal(await incrBy.call(redis, ['f'], [1]), 2);
    await redis.script('FLUSH');
    const p = redis.pipeline();
    incrBy.run(p, ['f'], [5]);
    assert.deepEqual(await p.exec(), [[null, 7]]);
  });
});
