import assert from 'node:assert/strict';
import { loadConfig } from '../../shared/config/config.js';
import { ConfigError } from '../../shared/errors/app-error.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { EventHubsEventLog } from '../../shared/event-log/event-hubs-event-log.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';

describe('createEventLog', () => {
  it('builds Redis Streams without Event Hubs settings', async () => {
    const log = createEventLog(loadConfig({ SHOWROOM_EVENT_LOG_PARTITIONS: '3' }));
    try {
      assert.ok(log instanceof RedisStreamsEventLog);
      assert.equal(log.partitionCount, 3);
    } finally {
      await log.close();
    }
  });

  it('builds Event Hubs from EVENTHUBS_CONNECTION_STRING, without connecting', async () => {
    const log = createEventLog(
      loadConfig({
        EVENTHUBS_CONNECTION_STRING: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=secret;EntityPath=hub;UseDevelopmentEmulator=true',
        SHOWROOM_EVENTHUBS_CHECKPOINT_STORE: 'UseDevelopmentStorage=true',
      }),
    );
    try {
      assert.ok(log instanceof EventHubsEventLog);
    } finally {
      await log.close();
    }
  });

  it('names the missing checkpoint store setting', () => {
    assert.throws(
      () => createEventLog(loadConfig({ EVENTHUBS_CONNECTION_STRING: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=s;EntityPath=hub' })),
      (err: unknown) => err instanceof ConfigError && /SHOWROOM_EVENTHUBS_CHECKPOINT_STORE/.test(err.message),
    );
  });
});
