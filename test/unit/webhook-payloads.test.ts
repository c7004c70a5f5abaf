/**
 * The webhook's pure parts: the signature scheme, the three notification formats as registries
 * send them, and which stored rules cover a pushed tag.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { parsePushPayload } from '../../functions/push/payloads.js';
import { coveringRules, rulesForPushes } from '../../functions/push/rule-match.js';
import { signBody, verifySignature } from '../../functions/push/signature.js';

const SECRET = 'k3y-for-tests';
const NOW = 1_800_000_000;

describe('webhook signature', () => {
  const body = Buffer.from('{"repository":"quay.io/team/app","tag":"1.2"}');
  const headers = (signature: string, timestamp: string | number = NOW) => ({
    'x-image-migrator-signature': signature,
    'x-image-migrator-timestamp': String(timestamp),
  });
  const reason = (fn: () => unknown): string => {
    try {
      fn();
      return 'accepted';
    } catch (error) {
      return (error as { reason: string }).reason;
    }
  };

  it('is the HMAC-SHA256 of "timestamp.body", and verifies', () => {
    // echo -n '1800000000.{"repository":"quay.io/team/app","tag":"1.2"}' | openssl dgst -sha256 -hmac k3y-for-tests
    assert.equal(signBody(SECRET, NOW, body), 'sha256=420ff8f2414dd39392230f9e668b8e0ed63f4077db4a8d15446e1700ab5f90f2');
    const verified = verifySignature(SECRET, headers(signBody(SECRET, NOW, body)), body, NOW + 10);
    assert.equal(verified.timestamp, NOW);
    assert.match(verified.signature, /^[0-9a-f]{64}$/);
  });

  it('refuses a changed body, another key, a re-stamped request and a stale or future timestamp', () => {
    const good = signBody(SECRET, NOW, body);
    assert.equal(
      reason(() => verifySignature(SECRET, headers(good), Buffer.from(`${body.toString()} `), NOW)),
      'the signature does not match the body',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, headers(signBody('other', NOW, body)), body, NOW)),
      'the signature does not match the body',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, headers(good, NOW + 1), body, NOW)),
      'the signature does not match the body',
    );
    const stale = signBody(SECRET, NOW - 301, body);
    assert.equal(
      reason(() => verifySignature(SECRET, headers(stale, NOW - 301), body, NOW)),
      'X-Image-Migrator-Timestamp is more than 5 minutes from the current time',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, headers(signBody(SECRET, NOW + 301, body), NOW + 301), body, NOW)),
      'X-Image-Migrator-Timestamp is more than 5 minutes from the current time',
    );
  });

  it('refuses missing and malformed headers', () => {
    assert.equal(
      reason(() => verifySignature(SECRET, {}, body, NOW)),
      'the X-Image-Migrator-Signature header is missing',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, { 'x-image-migrator-signature': 'sha256=00' }, body, NOW)),
      'the X-Image-Migrator-Timestamp header is missing',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, headers('sha256=00'), body, NOW)),
      'X-Image-Migrator-Signature must be "sha256=" followed by 64 hex digits',
    );
    assert.equal(
      reason(() => verifySignature(SECRET, headers(signBody(SECRET, NOW, body), '2026-11-01T00:00:00Z'), body, NOW)),
      'X-Image-Migrator-Timestamp must be unix seconds',
    );
  });
});

describe('push notification formats', () => {
  it('reads tag pushes from a distribution envelope and skips blob pushes and pulls', () => {
    const parsed = parsePushPayload(
      JSON.stringify({
        events: [
          {
            id: '1',
            action: 'push',
            target: { mediaType: 'application/octet-stream', repository: 'team/app', digest: 'sha256:aa' },
            request: { host: 'registry.example.com:5000' },
          },
          {
            id: '2',
            action: 'push',
            target: {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              repository: 'team/app',
              tag: '1.2',
              digest: 'sha256:bb',
              url: 'https://registry.example.com:5000/v2/team/app/manifests/sha256:bb',
            },
            request: { host: 'registry.example.com:5000' },
          },
          { id: '3', action: 'pull', target: { repository: 'team/app', tag: '1.1' }, request: { host: 'registry.example.com:5000' } },
          {
            id: '4',
            action: 'push',
            target: { repository: 'team/tool', tag: 'v2', url: 'http://127.0.0.1:5000/v2/team/tool/manifests/v2' },
          },
        ],
      }),
    );
    assert.deepEqual(parsed, {
      format: 'distribution',
      pushes: [
        { registry: 'registry.example.com:5000', repository: 'team/app', tag: '1.2' },
        { registry: '127.0.0.1:5000', repository: 'team/tool', tag: 'v2' },
      ],
    });
  });

  it('reads a Harbor PUSH_ARTIFACT and acknowledges other Harbor events with no push', () => {
    const harbor = {
      type: 'PUSH_ARTIFACT',
      occur_at: 1_700_000_000,
      operator: 'admin',
      event_data: {
        resources: [{ digest: 'sha256:cc', tag: 'v1.0', resource_url: 'harbor.example.com/library/nginx:v1.0' }],
        repository: {
          date_created: 1_700_000_000,
          name: 'nginx',
          namespace: 'library',
          repo_full_name: 'library/nginx',
          repo_type: 'private',
        },
      },
    };
    assert.deepEqual(parsePushPayload(JSON.stringify(harbor)), {
      format: 'harbor',
      pushes: [{ registry: 'harbor.example.com', repository: 'library/nginx', tag: 'v1.0' }],
    });
    assert.deepEqual(parsePushPayload(JSON.stringify({ ...harbor, type: 'DELETE_ARTIFACT' })), { format: 'harbor', pushes: [] });
  });

  it('reads the plain form with Docker Hub normalisation', () => {
    assert.deepEqual(parsePushPayload('{"repository":"nginx","tag":"1.27"}'), {
      format: 'plain',
      pushes: [{ registry: 'docker.io', repository: 'library/nginx', tag: '1.27' }],
    });
  });

  it('refuses bodies in no known format with a message that lists the formats', () => {
    for (const body of ['not json', '[1]', '{"hello":"world"}', '{"repository":"Bad Name","tag":"x"}']) {
      assert.throws(
        () => parsePushPayload(body),
        /^UnknownPayloadError: unrecognised payload: .*expected a distribution notification envelope, a Harbor PUSH_ARTIFACT webhook or/,
      );
    }
  });
});

describe('rules that cover a pushed tag', () => {
  const rules = parseImagesFile(
    JSON.stringify({
      'quay.io/team/app': 'swr.example.com/mirror/app',
      'quay.io/team/tool:2.0': 'swr.example.com/mirror/tool',
      'quay.io/team/pinned:1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000': 'swr.example.com/mirror/pinned',
      'quay.io/coreos/etcd': '',
    }),
    'images.json',
    { registry: 'swr.example.com', namespace: 'defaults' },
  );
  const push = (repository: string, tag: string) => ({ registry: 'quay.io', repository, tag });

  it('maps an all-tags rule to the pushed tag and a tag rule to itself', () => {
    assert.deepEqual(rulesForPushes([push('team/app', '3.1'), push('team/tool', '2.0'), push('coreos/etcd', '3.6')], rules), {
      'quay.io/team/app:3.1': ['swr.example.com/mirror/app:3.1'],
      'quay.io/team/tool:2.0': ['swr.example.com/mirror/tool:2.0'],
      'quay.io/coreos/etcd:3.6': ['swr.example.com/defaults/etcd:3.6'],
    });
  });

  it('ignores an unknown repository, a tag no rule covers, another registry and digest-pinned rules', () => {
    assert.deepEqual(coveringRules(push('team/unknown', '1'), rules), []);
    assert.deepEqual(coveringRules(push('team/tool', '2.1'), rules), []);
    assert.deepEqual(coveringRules({ registry: 'ghcr.io', repository: 'team/app', tag: '1' }, rules), []);
    assert.deepEqual(coveringRules(push('team/pinned', '1.0'), rules), []);
    assert.deepEqual(rulesForPushes([push('team/tool', '2.1')], rules), {});
  });
});

describe('pushed tags and the object form', () => {
  const rules = parseImagesFile(
    JSON.stringify({
      'quay.io/team/app': { to: 'swr.example.com/mirror/app', tags: { include: ['v*'], exclude: ['*-rc*'] }, platforms: ['linux/amd64'] },
      'quay.io/team/svc': { to: 'swr.example.com/mirror/svc', tags: { semver: '^2', latest: 3 }, referrers: false },
    }),
    'images.json',
    {},
  );
  const push = (repository: string, tag: string) => ({ registry: 'quay.io', repository, tag });

  it('queues nothing for a tag the filter excludes', () => {
    for (const tag of ['latest', 'v2.0-rc1']) assert.deepEqual(rulesForPushes([push('team/app', tag)], rules), {});
    for (const tag of ['1.9.0', 'nightly']) assert.deepEqual(rulesForPushes([push('team/svc', tag)], rules), {});
  });

  it('carries the platforms of a selected tag, and replans a latest-N rule as a whole', () => {
    const images = rulesForPushes([push('team/app', 'v1.2'), push('team/svc', '2.4.0'), push('team/svc', '2.5.0')], rules);
    assert.deepEqual(images, {
      'quay.io/team/app:v1.2': [{ to: 'swr.example.com/mirror/app:v1.2', platforms: ['linux/amd64'] }],
      'quay.io/team/svc': [{ to: 'swr.example.com/mirror/svc', tags: { semver: '^2', latest: 3 }, referrers: false }],
    });
    const replanned = parseImagesFile(JSON.stringify(images), 'images', {});
    assert.deepEqual(
      replanned.map((r) => [r.key, r.allTags, r.platforms, r.tags, r.referrers]),
      [
        ['quay.io/team/app:v1.2', false, ['linux/amd64'], undefined, undefined],
        ['quay.io/team/svc', true, undefined, { semver: '^2', latest: 3 }, false],
      ],
    );
  });
});
