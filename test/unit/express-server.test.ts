import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createExpressServer } from '../../online/http/express-server.js';

describe('createExpressServer', () => {
  it('hands Express requests and responses that already have its prototypes, and Express works as usual', async () => {
    const app = express();
    app.get('/items/:id', (req, res) => {
      res.status(201).json({ id: req.params.id, q: req.query.q, ip: req.ip, accepts: req.accepts('json') });
    });
    const server = createExpressServer(app);
    // Before Express sees them: the prototypes it would set are already there (its setPrototypeOf is a no-op).
    const born: boolean[] = [];
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      born.push(Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/items/${i}?q=suv`);
        assert.equal(res.status, 201);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.deepEqual(await res.json(), { id: String(i), q: 'suv', ip: '127.0.0.1', accepts: 'json' });
      }
      const missing = await fetch(`http://127.0.0.1:${port}/nothing`);
      assert.equal(missing.status, 404);
      await missing.arrayBuffer();
      assert.deepEqual(born, [true, true, true, true]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('passes the other http.createServer options through (timeouts)', () => {
    const server = createExpressServer(express(), { requestTimeout: 1234, headersTimeout: 567 });
    assert.equal(server.requestTimeout, 1234);
    assert.equal(server.headersTimeout, 567);
  });
});
