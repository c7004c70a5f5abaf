/**
 * Free loopback ports for child processes that must be told their port up front.
 */
import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port on `host` by listening on port 0, then releases it.
 * Another process may take the port before the caller binds it, so callers retry on bind failure.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
