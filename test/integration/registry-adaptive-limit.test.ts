/**
 * The registry client's adaptive concurrency against a server that throttles: it answers 429 whenever
 * more than three requests are in flight. With the limiter the client backs off to what the server
 * takes, and meets far fewer refusals than the same client without it; every request still succeeds.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../shared/registry/client.js';

describe('adaptive concurrency against a throttling registry', () => {
  let server: Server;
  let host: string;
  let inFlight = 0;
  let refused = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (inFlight >= 3) {
        refused++;
        res.writeHead(429, { 'content-type': 'application/json' }).end();
        return;
      }
      inFlight++;
      setTimeout(() => {
        inFlight--;
        res
          .writeHead(200, {
            'docker-content-digest': `sha256:${'a'.repeat(64)}`,
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
          })
          .end();
      }, 15);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function burst(maxConcurrency: number | undefined): Promise<number> {
    refused = 0;
    const client = new RegistryClient({
      credentials: { lookup: () => ({ insecure: true }) },
      retry: { attempts: 30, baseDelayMs: 5, maxDelayMs: 40 },
      ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
    });
    // The first request settles the scheme (https refused, then http) before the burst.
    await client.headManifest({ registry: host, repository: 'r' }, 'warmup');
    const heads = await Promise.all(
      Array.from({ length: 80 }, (_, i) => client.headManifest({ registry: host, repository: 'r' }, `t${i}`)),
    );
    await client.close();
    assert.equal(heads.filter((h) => h?.digest !== undefined).length, 80);
    return refused;
  }

  it('meets far fewer 429s with the limiter than without, and completes every request', async () => {
    const without = await burst(undefined);
    const adaptive = await burst(28);
    assert.ok(adaptive * 2 < without, `429s with the limiter: ${adaptive}, without: ${without}`);
  });
});
