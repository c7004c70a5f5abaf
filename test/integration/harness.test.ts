/**
 * Proves the registry test harness against independent clients (skopeo and raw fetch): the seeded
 * bytes are what the registry serves, each auth kind accepts and refuses what it should, and the fault
 * proxy injects exactly the failures and redirects it is asked for.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, listTags, pushImage, pushMultiArch } from '../support/seed.js';

const run = promisify(execFile);

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `skopeo inspect --raw` runs asynchronously: the token server lives in this process and must keep answering. */
async function skopeoRaw(r: TestRegistry, image: string, withCreds = true): Promise<Buffer> {
  const creds = withCreds && r.username !== undefined ? ['--creds', `${r.username}:${r.password}`] : [];
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${r.host}/${image}`], {
    encoding: 'buffer',
    timeout: 20_000,
  });
  return stdout;
}

function basicHeader(r: TestRegistry): string {
  return `Basic ${Buffer.from(`${r.username}:${r.password}`).toString('base64')}`;
}

for (const auth of ['none', 'basic', 'token'] as const) {
  describe(`a ${auth} registry`, () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry({ auth });
    });
    after(() => registry.stop());

    test('serves a pushed Docker image with exactly the pushed bytes', async () => {
      const image = await pushImage(registry, 'team/app', 'v1');
      const raw = await skopeoRaw(registry, 'team/app:v1');
      assert.equal(sha256(raw), image.digest);
      assert.ok(raw.toString('utf8').startsWith('{\n   "schemaVersion": 2'), 'non-canonical 3-space indentation kept');
      assert.deepEqual(await listTags(registry, 'team/app'), ['v1']);
    });

    test('serves a pushed OCI multi-arch index and its children by digest', async () => {
      const { index, children } = await pushMultiArch(registry, 'team/multi', 'latest', { format: 'oci' });
      assert.equal(sha256(await skopeoRaw(registry, 'team/multi:latest')), index.digest);
      for (const child of children) {
        assert.equal(sha256(await skopeoRaw(registry, `team/multi@${child.digest}`)), child.digest);
      }
      assert.equal(children[0]?.layers[0], children[1]?.layers[0], 'children share the base layer');
      const entries = JSON.parse(index.manifest.toString('utf8')).manifests as { platform: { architecture: string } }[];
      assert.deepEqual(
        entries.map((e) => e.platform.architecture),
        ['amd64', 'arm64'],
      );
    });
  });
}

describe('a basic-auth registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'basic', users: { alice: 'alice-pass', bob: 'bob-pass' } });
  });
  after(() => registry.stop());

  test('rejects anonymous requests with 401 and a Basic challenge', async () => {
    const response = await fetch(`${registry.url}/v2/`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Basic realm="image-migrator-test"');
    await assert.rejects(skopeoRaw(registry, 'team/app:v1', false));
  });

  test('accepts every configured user and refuses a wrong password', async () => {
    assert.equal(registry.username, 'alice');
    const bob = await fetch(`${registry.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from('bob:bob-pass').toString('base64')}` },
    });
    assert.equal(bob.status, 200);
    const wrong = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from('bob:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
  });
});

describe('a token-auth registry', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    await pushImage(registry, 'team/app', 'v1');
  });
  after(() => registry.stop());

  async function token(scope: string, authorization?: string): Promise<{ status: number; token?: string }> {
    const ts = registry.tokenServer!;
    const url = `${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent(scope)}`;
    const response = await fetch(url, { headers: authorization === undefined ? {} : { authorization } });
    const body = response.ok ? ((await response.json()) as { token: string; access_token: string; expires_in: number }) : undefined;
    if (body !== undefined) {
      assert.equal(body.access_token, body.token);
      assert.equal(body.expires_in, 300);
    }
    return { status: response.status, token: body?.token };
  }

  test('challenges with the token server realm and service', async () => {
    const response = await fetch(`${registry.url}/v2/`);
    assert.equal(response.status, 401);
    const ts = registry.tokenServer!;
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${ts.realm}",service="${ts.service}"`);
  });

  test('lets anonymous clients pull', async () => {
    const { token: anonymous } = await token('repository:team/app:pull');
    const response = await fetch(`${registry.url}/v2/team/app/manifests/v1`, {
      headers: { authorization: `Bearer ${anonymous}`, accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(response.status, 200);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), await getManifestDigest(registry, 'team/app', 'v1'));
    assert.equal(sha256(await skopeoRaw(registry, 'team/app:v1', false)), await getManifestDigest(registry, 'team/app', 'v1'));
  });

  test('refuses anonymous pushes', async () => {
    const { token: anonymous } = await token('repository:team/app:pull,push');
    const response = await fetch(`${registry.url}/v2/team/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${anonymous}` },
    });
    assert.equal(response.status, 401);
  });

  test('refuses a wrong password at the token server and counts every request and scope', async () => {
    const ts = registry.tokenServer!;
    const before = ts.requests;
    const scopesBefore = ts.scopes.length;
    const wrong = await token('repository:team/app:pull', `Basic ${Buffer.from(`${registry.username}:wrong`).toString('base64')}`);
    assert.equal(wrong.status, 401);
    const right = await token('repository:team/app:pull,push', basicHeader(registry));
    assert.equal(right.status, 200);
    const upload = await fetch(`${registry.url}/v2/team/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${right.token}` },
    });
    assert.equal(upload.status, 202);
    assert.equal(ts.requests, before + 2);
    assert.deepEqual(ts.scopes.slice(scopesBefore), ['repository:team/app:pull', 'repository:team/app:pull,push']);
  });
});

describe('a token-auth registry with an ACL', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startRegistry({
      auth: 'token',
      acl: (user, repository, action) => user === 'alice' && (action === 'pull' || !repository.startsWith('readonly/')),
    });
  });
  after(() => registry.stop());

  test('grants only the actions the ACL allows, and the registry refuses the rest', async () => {
    const ts = registry.tokenServer!;
    const response = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:readonly/app:pull,push`, {
      headers: { authorization: basicHeader(registry) },
    });
    const { token } = (await response.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { access: unknown };
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'readonly/app', actions: ['pull'] }]);
    const push = await fetch(`${registry.url}/v2/readonly/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(push.status, 401);
    const anonymous = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:team/app:pull`);
    const anonymousClaims = JSON.parse(
      Buffer.from(((await anonymous.json()) as { token: string }).token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { access: unknown };
    assert.deepEqual(anonymousClaims.access, [{ type: 'repository', name: 'team/app', actions: [] }]);
  });
});
