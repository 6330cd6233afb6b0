import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /**
   * Stops forwarding on every connection, without closing any: in both directions (a silent
   * network), or only what the server sends (`replies`: requests still reach it).
   */
  freeze(direction?: 'both' | 'replies'): void;
  /** Forwards again; what was held back is delivered. */
  thaw(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `127.0.0.1:<targetPort>` that can go silent (fault tests of heartbeats). */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen: 'both' | 'replies' | undefined;
  const flow = ([client, upstream]: [Socket, Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const hold = ([client, upstream]: [Socket, Socket], direction: 'both' | 'replies') => {
    if (direction === 'both') {
      client.unpipe(upstream);
      client.pause();
    }
    upstream.unpipe(client);
    upstream.pause();
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    flow(pair);
    if (frozen) hold(pair, frozen);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze(direction = 'both') {
      frozen = direction;
      for (const pair of pairs) hold(pair, direction);
    },
    thaw() {
      frozen = undefined;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        flow([client, upstream]);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
