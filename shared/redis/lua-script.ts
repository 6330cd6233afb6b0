import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis-connection.js';

/** Where a script runs: a connection or a pipeline of it. */
type ScriptTarget = Redis | ChainableCommander;

/** A Lua script sent by its SHA1 (`EVALSHA`) once a connection knows it. */
export interface LuaScript {
  /** Queues the script on a pipeline (or runs it on a connection); `args` follow the keys. */
  run(target: ScriptTarget, keys: readonly string[], args?: readonly (string | number)[]): unknown;
  /** Runs the script on a connection and resolves its reply. */
  call(redis: Redis, keys: readonly string[], args?: readonly (string | number)[]): Promise<unknown>;
}

let nextId = 0;

/**
 * A Lua script registered with ioredis `defineCommand`: the first use on a socket sends the body
 * (`EVAL`), every later use only its SHA1 (`EVALSHA`), and a `NOSCRIPT` reply (Redis restarted
 * or flushed its script cache) is answered by resending the body. Compared with `EVAL <body>` on
 * every call, Redis parses fewer bytes and does not hash the body again. Works in pipelines
 * created after the first `run`/`call` on the connection (ioredis copies scripts into each pipeline).
 *
 * @param name a readable name (the registered command is `<name>_<n>`, unique per process)
 * @param numberOfKeys how many leading arguments are keys; omit it for a script taking any number of keys
 */
export function luaScript(name: string, lua: string, numberOfKeys?: number): LuaScript {
  const command = `${name.replace(/[^A-Za-z0-9]/g, '_')}_${nextId++}`;
  const defined = new WeakSet<Redis>();
  const ensure = (redis: Redis) => {
    if (defined.has(redis)) return;
    redis.defineCommand(command, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
    defined.add(redis);
  };
  const invoke = (target: ScriptTarget, keys: readonly string[], args: readonly (string | number)[]): unknown => {
    const fn = (target as unknown as Record<string, (...a: (string | number)[]) => unknown>)[command];
    if (typeof fn !== 'function') throw new Error(`Lua script ${name}: run it on a connection first, or on a pipeline created after that (defineCommand)`);
    // Without a fixed key count, ioredis takes the count as the first argument.
    return numberOfKeys === undefined ? fn.call(target, keys.length, ...keys, ...args) : fn.call(target, ...keys, ...args);
  };
  return {
    run(target, keys, args = []) {
      // A pipeline carries its connection as `redis`; a connection is its own.
      const redis = ((target as { redis?: Redis }).redis ?? target) as Redis;
      ensure(redis);
      if (!(command in target)) {
        // A pipeline created before the script was defined: define it on the pipeline too.
        (target as unknown as { defineCommand?: (n: string, d: { lua: string; numberOfKeys?: number }) => void }).defineCommand?.(command, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
      }
      return invoke(target, keys, args);
    },
    call(redis, keys, args = []) {
      ensure(redis);
      return invoke(redis, keys, args) as Promise<unknown>;
    },
  };
}
