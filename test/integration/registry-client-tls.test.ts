/**
 * The registry client over TLS: verification by default, `insecure` without it and without a plain
 * HTTP fallback for secure registries, and no login sent to a token endpoint without TLS.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { RegistryClient } from '../../shared/registry/client.js';
import { RegistryError } from '../../shared/registry/registry-error.js';
import { clientFor } from '../support/client-probe.js';

describe('registry client over TLS', () => {
  let plainHttp: HttpServer;
  let plainHost: string;
  before(async () => {
    plainHttp = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    await new Promise<void>((resolve) => plainHttp.listen(0, '127.0.0.1', resolve));
    plainHost = `127.0.0.1:${(plainHttp.address() as AddressInfo).port}`;
  });
  after(async () => {
    plainHttp?.closeAllConnections();
    await new Promise((r) => plainHttp?.close(r));
  });

  describe('a self-signed https registry', () => {
    let server: HttpsServer;
    let plainRealm = '';
    let host: string;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'im-tls-'));
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'key'),
          '-out',
          join(dir, 'cert'),
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      server = createHttpsServer({ key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'cert')) }, (req, res) => {
        if (req.url?.startsWith('/v2/plain-realm/') && req.headers.authorization === undefined) {
          res.writeHead(401, { 'www-authenticate': `Bearer realm="${plainRealm}",service="tls-test"` }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url === '/v2/' ? '{}' : '{"name":"tls/app","tags":["v1"]}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
      rmSync(dir, { recursive: true, force: true });
    });

    it('speaks https without verification to an insecure registry, with no http fallback', async () => {
      const { client, seen, repo } = clientFor({ host });
      assert.deepEqual(await client.listTags(repo('tls/app')), ['v1']);
      assert.deepEqual(seen, [['tag-list', 200]]);
      await client.close();
    });

    it('verifies certificates by default and says how to skip verification, without retrying', async () => {
      const seen: [string, number][] = [];
      const client = new RegistryClient({ credentials: { lookup: () => ({ insecure: false }) }, onRequest: (k, s) => seen.push([k, s]) });
      const err = await client.listTags({ registry: host, repository: 'tls/app' }).catch((e: unknown) => e);
      assert.ok(err instanceof RegistryError);
      assert.equal(
        err.message,
        `GET https://${host}/v2/tls/app/tags/list?n=1000: TLS certificate not trusted (DEPTH_ZERO_SELF_SIGNED_CERT); give its CA as "ca" for this registry in auth.json, or set "insecure": true to skip verification`,
      );
      assert.equal(err.retryable, false);
      assert.deepEqual(seen, [['tag-list', 0]]);
      await client.close();
    });

    it('never sends a login to a token endpoint without TLS named by a registry that is not insecure', async () => {
      const tokenServer = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'));
      await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
      let tokenRequests = 0;
      tokenServer.on('request', () => tokenRequests++);
      plainRealm = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
      const dispatcher = new Agent({ connect: { ca: readFileSync(join(dir, 'cert')) } });
      const client = new RegistryClient({
        credentials: { lookup: () => ({ username: 'alice', password: 'secret-pw', insecure: false }) },
        dispatcher,
      });
      try {
        const err = await client.listTags({ registry: host, repository: 'plain-realm/app' }).catch((e: unknown) => e);
        assert.ok(err instanceof RegistryError);
        assert.equal(
          err.message,
          `GET ${plainRealm}?service=tls-test&scope=repository%3Aplain-realm%2Fapp%3Apull: the registry ${host} names a token endpoint without TLS; the login is not sent there (set "insecure": true for this registry in auth.json to allow it)`,
        );
        assert.equal(tokenRequests, 0);
      } finally {
        await client.close();
        await dispatcher.close();
        await new Promise((r) => tokenServer.close(r));
      }
    });

    it('does not fall back to plain http for a registry that is not insecure', async () => {
      const seen: [string, number][] = [];
      const client = new RegistryClient({
        credentials: { lookup: () => ({ insecure: false }) },
        onRequest: (k, s) => seen.push([k, s]),
        retry: { attempts: 2, baseDelayMs: 1 },
      });
      const err = await client.listTags({ registry: plainHost, repository: 'types/img' }).catch((e: unknown) => e);
      assert.ok(
        err instanceof RegistryError && err.message.startsWith(`GET https://${plainHost}/v2/types/img/tags/list?n=1000: network error`),
        String(err),
      );
      assert.deepEqual(seen, [
        ['tag-list', 0],
        ['tag-list', 0],
      ]);
      await client.close();
    });
  });
});
