import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { challengeScopes, parseAuthChallenges } from '../../shared/registry/auth-challenge.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Docker Hub style Bearer challenge with quoted values', () => {
    const [c] = parseAuthChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
    );
    assert.deepEqual(c, {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
  });

  it('keeps commas inside quoted values and reads several space-separated scopes', () => {
    const [c] = parseAuthChallenges('Bearer realm="https://r/token", scope="repository:a/b:pull,push repository:c:pull", service="svc"');
    assert.ok(c);
    assert.deepEqual(challengeScopes(c), ['repository:a/b:pull,push', 'repository:c:pull']);
    assert.equal(c.params.service, 'svc');
  });

  it('reads unquoted values and case-insensitive scheme and parameter names', () => {
    const [c] = parseAuthChallenges('BEARER Realm=https://r.example/token, Service=reg.example,error=invalid_token');
    assert.deepEqual(c, { scheme: 'bearer', params: { realm: 'https://r.example/token', service: 'reg.example', error: 'invalid_token' } });
  });

  it('splits several challenges in one header and across headers', () => {
    const one = parseAuthChallenges('Basic realm="Registry Realm", Bearer realm="https://t/token",service="s"');
    assert.deepEqual(
      one.map((c) => c.scheme),
      ['basic', 'bearer'],
    );
    assert.equal(one[0]?.params.realm, 'Registry Realm');
    assert.equal(one[1]?.params.service, 's');
    const many = parseAuthChallenges(['Basic realm="x"', 'Bearer realm="y"']);
    assert.deepEqual(
      many.map((c) => [c.scheme, c.params.realm]),
      [
        ['basic', 'x'],
        ['bearer', 'y'],
      ],
    );
  });

  it('unescapes quoted-pairs and tolerates a bare scheme', () => {
    const [a, b] = parseAuthChallenges('Bearer realm="a\\"b", Basic');
    assert.equal(a?.params.realm, 'a"b');
    assert.deepEqual(b, { scheme: 'basic', params: {} });
  });

  it('returns nothing for an absent or empty header', () => {
    assert.deepEqual(parseAuthChallenges(undefined), []);
    assert.deepEqual(parseAuthChallenges(''), []);
  });
});
