/**
 * The run state remembers how each registry answered (plain HTTP, its auth challenge), so that the
 * next run's first request to it needs no https attempt and meets no 401; and a remembered answer
 * that no longer holds (a registry moved to TLS, a token endpoint gone, one on another host) costs at
 * most a request, never a failed run or a login sent where the registry did not send it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { RunState } from '../../shared/state/run-state.js';
import { loopbackCredentials, startRegistry, type TestRegistry } from '../support/registries.js';
import { pushImage } from '../support/seed.js';
import { createTestPki, type TestPki } from '../support/test-pki.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

describe('endpoints remembered in the run state', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let pki: TestPki;
  let goLike: TlsFront;
  let nodeLike: TlsFront;
  before(async () => {
    pki = await createTestPki();
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
    await pushImage(src, 'team/app', 'v1');
    const certificate = await pki.server('front', ['127.0.0.1']);
    // Two TLS registries: one answers plain HTTP with a 400 (as Go's servers do), one closes the connection (as Node's do).
    [goLike, nodeLike] = await Promise.all([
      startTlsFront({ target: src.url, certificate, answerPlainHttp: true }),
      startTlsFront({ target: src.url, certificate }),
    ]);
  });
  after(async () => {
    await Promise.all([goLike?.stop(), nodeLike?.stop(), src?.stop(), dst?.stop()]);
    await pki?.remove();
  });

  // Every registry is `insecure`; the destination has its login.
  const credentials = loopbackCredentials(() => [dst]);

  /** One migration of `source`'s team/app to a new destination repository; requests by kind and status. */
  async function migrate(state: RunState, source: string, target: string): Promise<{ outcome: string | undefined; seen: string[] }> {
    const seen: string[] = [];
    const client = new RegistryClient({ credentials, endpoints: state, onRequest: (kind, status) => void seen.push(`${kind} ${status}`) });
    const rules = parseImagesFile(JSON.stringify({ [`${source}/team/app`]: `${dst.host}/${target}` }), 'images.json', {});
    const run = await runLocal({ rules, registry: client, workers: 2, retries: 0, state });
    await client.close();
    return { outcome: run.results[0]?.outcome, seen };
  }
  const count = (seen: readonly string[], pattern: RegExp): number => seen.filter((s) => pattern.test(s)).length;

  it('the next run goes to each registry as it answered: no https attempt, no 401, one token', async () => {
    const state = RunState.empty();
    const first = await migrate(state, src.host, 'mirror/first');
    assert.equal(first.outcome, 'copied');
    assert.equal(count(first.seen, / 0$/), 2, 'one https attempt at each plain-http registry');
    assert.equal(count(first.seen, / 401$/), 1, "the destination's challenge");
    assert.deepEqual(state.endpoint(src.host), { plainHttp: true });
    const tokenServer = dst.tokenServer;
    assert.ok(tokenServer !== undefined);
    assert.deepEqual(state.endpoint(dst.host), {
      plainHttp: true,
      auth: { kind: 'bearer', realm: tokenServer.realm, service: tokenServer.service },
    });
    const saved = state.serialize();
    assert.ok(!saved.includes(dst.password ?? '?'), 'no password in the state');

    const tokens = tokenServer.requests;
    const next = await migrate(RunState.parse(saved), src.host, 'mirror/first');
    assert.equal(next.outcome, 'up-to-date');
    assert.equal(count(next.seen, / 0$/), 0, 'no https attempt');
    assert.equal(count(next.seen, / 401$/), 0, 'no challenge: the token was fetched before the first request');
    assert.equal(tokenServer.requests - tokens, 1);
    assert.deepEqual(next.seen.filter((s) => s.startsWith('tag-list')).length, 2, "each registry's tag list once");
  });

  for (const [name, front] of [
    ['answers plain HTTP with a 400', () => goLike],
    ['closes a plain-HTTP connection', () => nodeLike],
  ] as const) {
    it(`a registry remembered as plain HTTP that now speaks TLS (${name}) is found over https`, async () => {
      const state = RunState.empty();
      state.rememberEndpoint(front().host, { plainHttp: true });
      state.rememberEndpoint(dst.host, { plainHttp: true });
      const run = await migrate(state, front().host, `mirror/moved-${name.split(' ')[0] ?? ''}`);
      assert.equal(run.outcome, 'copied');
      assert.equal(count(run.seen, / (0|400)$/), 1, 'one refused plain-HTTP attempt');
      assert.deepEqual(state.endpoint(front().host), {}, 'remembered as TLS now');
    });
  }

  it('a remembered token endpoint that fails is dropped for the registry challenge', async () => {
    const state = RunState.empty();
    // On the registry's own host, so it is used with the login; the registry answers 404 there.
    state.rememberEndpoint(dst.host, { plainHttp: true, auth: { kind: 'bearer', realm: `${dst.url}/no/token/here`, service: 'x' } });
    const run = await migrate(state, src.host, 'mirror/realm-gone');
    assert.equal(run.outcome, 'copied');
    assert.equal(count(run.seen, /^token 404$/), 1, 'the remembered endpoint, tried once');
    assert.equal(count(run.seen, / 401$/), 1, "then the registry's own challenge");
    assert.deepEqual(state.endpoint(dst.host)?.auth, { kind: 'bearer', realm: dst.tokenServer?.realm, service: dst.tokenServer?.service });
  });

  it('a remembered token endpoint on another host never receives the login', async () => {
    let hits = 0;
    const elsewhere: Server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"x"}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    try {
      const state = RunState.empty();
      // "localhost" is not the registry's host name (127.0.0.1), whatever it resolves to.
      const realm = `http://localhost:${(elsewhere.address() as AddressInfo).port}/token`;
      state.rememberEndpoint(dst.host, { plainHttp: true, auth: { kind: 'bearer', realm, service: 'x' } });
      const run = await migrate(state, src.host, 'mirror/realm-elsewhere');
      assert.equal(run.outcome, 'copied');
      assert.equal(hits, 0);
      assert.equal(count(run.seen, / 401$/), 1, "the registry's own challenge decides");
    } finally {
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });
});
