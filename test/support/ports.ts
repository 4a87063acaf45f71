import { createServer } from 'node:net';

/**
 * A TCP port free on `host` right now. A port free on 127.0.0.1 is, in practice, free on the
 * other loopback addresses too, which is what sandbox pods (127.0.0.2, …) listen on.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('port')),
      );
    });
  });
}
