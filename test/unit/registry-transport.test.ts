/**
 * The transport's connection reuse, seen from a real HTTP server on loopback that counts the TCP
 * connections it accepts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { discard, Transport } from '../../shared/registry/transport.js';
import { RequestKind } from '../../shared/registry/types.js';

describe('transport', () => {
  let server: Server;
  let base: URL;
  let connections = 0;
  before(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2', 'docker-content-digest': 'sha256:x' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
    server.on('connection', () => void (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  for (const method of ['HEAD', 'GET'] as const) {
    it(`sends one ${method} after another over one kept-alive connection`, async () => {
      const transport = new Transport({});
      connections = 0;
      for (let i = 0; i < 5; i++) {
        const res = await transport.exchange({
          kind: RequestKind.ManifestHead,
          method,
          url: new URL('/v2/a/manifests/v1', base),
          headers: {},
          insecure: false,
        });
        assert.equal(res.status, 200);
        await discard(res);
        // undici hands a socket back to its pool one event-loop turn after the response ends.
        await sleep(5);
      }
      assert.equal(connections, 1);
      await transport.close();
    });
  }
});
