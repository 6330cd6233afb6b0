import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/errors/app-error.js';
import { loadConfig, redactedConfig, settingDocs } from '../../shared/config/config.js';

describe('config', () => {
  it('applies the documented defaults with an empty environment', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(c.cosmosEndpoint, undefined);
    assert.equal(c.eventHubsConnectionString, undefined);
    assert.equal(c.lakeUrl, 'file://./data/lake');
    assert.deepEqual(c.apiKeys, []);
    assert.equal(c.eventLogPartitions, 4);
  });

  it('names the variable when a value is wrong', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /PORT must be an integer, got "eighty"/);
      assert.deepEqual(err.fields.map((f) => f.field), ['PORT']);
      return true;
    });
  });

  it('reports every wrong variable at once', () => {
    assert.throws(
      () => loadConfig({ PORT: '70000', REDIS_URL: 'http://x', SHOWROOM_LOG_LEVEL: 'loud', LAKE_URL: 'ftp://lake' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.fields.map((f) => f.field).sort(), ['LAKE_URL', 'PORT', 'REDIS_URL', 'SHOWROOM_LOG_LEVEL']);
        assert.match(err.message, /REDIS_URL must use redis: or rediss:/);
        return true;
      },
    );
  });

  it('redacts secrets when printed', () => {
    const c = loadConfig({
      SHOWROOM_API_KEYS: 'k1,k2',
      COSMOS_KEY: 'supersecret',
      REDIS_URL: 'redis://user:pw@cache:6379',
      EVENTHUBS_CONNECTION_STRING: 'Endpoint=sb://x/;SharedAccessKey=abc',
    });
    const printed = JSON.stringify(redactedConfig(c));
    for (const secret of ['k1', 'supersecret', ':pw@', 'SharedAccessKey=abc']) assert.ok(!printed.includes(secret), `${secret} leaked`);
    assert.equal(redactedConfig(c).SHOWROOM_API_KEYS, '[2 redacted]');
  });

  it('documents every setting', () => {
    for (const s of settingDocs()) assert.ok(s.doc.length > 10, `${s.env} lacks a description`);
  });
});
