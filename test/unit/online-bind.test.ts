import assert from 'node:assert/strict';
import { resolveHost } from '../../online/serve.js';

describe('online bind address', () => {
  const none = { api: [], admin: [] };
  const keys = { api: ['k'], admin: [] };
  it('binds to loopback without keys and refuses anything else', () => {
    assert.equal(resolveHost(undefined, none), '127.0.0.1');
    assert.equal(resolveHost('::1', none), '::1');
    assert.throws(() => resolveHost('0.0.0.0', none), /refusing to listen on 0\.0\.0\.0 without API keys/);
    assert.throws(() => resolveHost('10.1.2.3', none), (err: Error) => err.name === 'ConfigError');
  });
  it('binds to all interfaces with keys unless told otherwise', () => {
    assert.equal(resolveHost(undefined, keys), '0.0.0.0');
    assert.equal(resolveHost('127.0.0.1', keys), '127.0.0.1');
    assert.equal(resolveHost('', { api: [], admin: ['a'] }), '0.0.0.0');
  });
});
