/**
 * One token per registry and run: the repositories a run announces share one Bearer token, asked for
 * with one `scope` parameter each; a server that refuses the shared request, or a repository the shared
 * token cannot push to, falls back to tokens per repository. Real registries and token servers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import type { RetryEvent } from '../../shared/registry/retry.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage } from '../support/seed.js';

describe('one token per registry and run', () => {
  let src: TestRegistry;
  let open: TestRegistry;
  let strict: TestRegistry;
  let locked: TestRegistry;
  const repos = ['team/a', 'team/b', 'team/c'];
  const digests = new Map<string, string>();
  before(async () => {
    [src, open, strict, locked] = await Promise.all([
      startRegistry(),
      startRegistry({ auth: 'token' }),
      startRegistry({ auth: 'token', maxScopesPerToken: 2 }),
      startRegistry({
        auth: 'token',
        acl: (user, repository, action) => user !== undefined && (action === 'pull' || repository !== 'mirror/c'),
      }),
    ]);
    for (const repo of repos) for (const tag of ['1', '2']) digests.set(`${repo}:${tag}`, (await pushImage(src, repo, tag)).digest);
  });
  after(async () => {
    await Promise.all([src, open, strict, locked].map((r) => r?.stop()));
  });

  async function migrate(dst: TestRegistry, retries: RetryEvent[] = []): Promise<Map<string, string>> {
    const client = new RegistryClient({
      credentials: {
        lookup: (registry) => ({ insecure: true, ...(registry === dst.host ? { username: dst.username, password: dst.password } : {}) }),
      },
    });
    const images = Object.fromEntries(repos.map((r) => [`${src.host}/${r}`, `${dst.host}/mirror/${r.split('/')[1]}`]));
    const run = await runLocal({
      rules: parseImagesFile(JSON.stringify(images), 'images.json', {}),
      registry: client,
      workers: 4,
      retries: 0,
      onEvent: (event) => void (event.type === 'retry' && retries.push(event.retry)),
    });
    await client.close();
    return new Map(
      run.results.map((r) => [r.destination.replace(`${dst.host}/`, ''), r.outcome === 'failed' ? `failed: ${r.error}` : r.outcome]),
    );
  }

  it('asks for one token carrying the scopes of every repository of the run', async () => {
    const outcomes = await migrate(open);
    assert.deepEqual([...outcomes.values()], Array(6).fill('copied'));
    assert.equal(open.tokenServer?.requests, 1);
    assert.deepEqual(
      [...(open.tokenServer?.scopes ?? [])].sort(),
      ['a', 'b', 'c'].map((r) => `repository:mirror/${r}:pull,push`),
    );
    for (const repo of repos) assert.equal(await getManifestDigest(open, `mirror/${repo.split('/')[1]}`, '2'), digests.get(`${repo}:2`));
  });

  it('falls back to a token per repository when the server refuses the shared request', async () => {
    const retries: RetryEvent[] = [];
    const outcomes = await migrate(strict, retries);
    assert.deepEqual([...outcomes.values()], Array(6).fill('copied'));
    // The fallback is told once, as a retry of the token request, with the server's answer.
    const fallbacks = retries.filter((r) => r.kind === 'token');
    assert.equal(fallbacks.length, 1, JSON.stringify(retries));
    assert.equal(fallbacks[0]?.what, 'token for 3 scopes at once');
    assert.match(fallbacks[0]?.reason ?? '', /^\d{3} .*; each repository asks for its own token from now on$/);
    // The refused shared request, then one token per repository (a mount adds the source's pull scope).
    const requests = strict.tokenServer?.requests ?? 0;
    assert.ok(requests >= 1 + 3 && requests <= 1 + 3 + 6, `token requests: ${requests}`);
  });

  it('gives a repository the shared token cannot push to its own token, and keeps the shared one for the others', async () => {
    const outcomes = await migrate(locked);
    for (const r of ['a', 'b']) for (const tag of ['1', '2']) assert.equal(outcomes.get(`mirror/${r}:${tag}`), 'copied');
    for (const tag of ['1', '2']) assert.match(outcomes.get(`mirror/c:${tag}`) ?? '', /^failed: .*401/);
    const scopes = locked.tokenServer?.scopes ?? [];
    // The first request carried the three repositories; every later one is for mirror/c alone.
    assert.deepEqual(
      scopes.slice(0, 3).sort(),
      ['a', 'b', 'c'].map((r) => `repository:mirror/${r}:pull,push`),
    );
    assert.ok(scopes.length > 3);
    for (const scope of scopes.slice(3)) assert.match(scope, /^repository:mirror\/c:/);
  });
});
