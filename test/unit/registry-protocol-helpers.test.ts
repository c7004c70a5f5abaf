import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsupportedManifestError } from '../../shared/errors.js';
import { nextLink } from '../../shared/registry/link-header.js';
import { manifestMediaType } from '../../shared/registry/manifest-media.js';
import { refreshTime, TokenCache, tokenKey } from '../../shared/registry/token-cache.js';
import { MediaType } from '../../shared/registry/types.js';
import { contentRange, rangeOffset, storableUploadUrl } from '../../shared/registry/upload-session.js';

describe('Link pagination header', () => {
  const base = new URL('http://127.0.0.1:5000/v2/r/tags/list?n=2');
  it('resolves a relative next link against the request URL', () => {
    assert.equal(nextLink('</v2/r/tags/list?last=b&n=2>; rel="next"', base)?.href, 'http://127.0.0.1:5000/v2/r/tags/list?last=b&n=2');
  });
  it('takes an absolute next link among other links', () => {
    const v = '<https://other/v2/r/tags/list?last=a>; rel="prev", <https://cdn.example/v2/r/tags/list?last=z&n=2>; rel=next';
    assert.equal(nextLink(v, base)?.href, 'https://cdn.example/v2/r/tags/list?last=z&n=2');
  });
  it('returns undefined without a next link', () => {
    assert.equal(nextLink(undefined, base), undefined);
    assert.equal(nextLink('<x>; rel="prev"', base), undefined);
  });
});

describe('manifest media types', () => {
  it('takes the Content-Type without parameters', () => {
    assert.equal(manifestMediaType(`${MediaType.OciIndex}; charset=utf-8`, Buffer.from('{}'), 'm'), MediaType.OciIndex);
  });
  it('falls back to the document for application/json', () => {
    const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest }));
    assert.equal(manifestMediaType('application/json', doc, 'm'), MediaType.DockerManifest);
    assert.equal(manifestMediaType(undefined, Buffer.from('{"schemaVersion":2,"manifests":[]}'), 'm'), MediaType.OciIndex);
  });
  it('refuses schema 1 by name, whether announced or only in the document', () => {
    assert.throws(
      () => manifestMediaType(MediaType.DockerSchema1Signed, Buffer.from('{}'), 'manifest r:t'),
      (e: unknown) => e instanceof UnsupportedManifestError && /manifest r:t is a Docker schema 1 manifest/.test(e.message),
    );
    assert.throws(
      () => manifestMediaType('application/json', Buffer.from('{"schemaVersion":1,"name":"r"}'), 'm'),
      UnsupportedManifestError,
    );
  });
});

describe('token cache', () => {
  it('refreshes a fifth of the lifetime early, at most 30 s, 60 s lifetime by default', () => {
    assert.equal(refreshTime(2, 0), 1600);
    assert.equal(refreshTime(300, 0), 270_000);
    assert.equal(refreshTime(undefined, 0), 48_000);
  });

  it('shares one fetch between concurrent callers and refetches after expiry or a drop', async () => {
    let now = 0;
    let fetches = 0;
    const cache = new TokenCache(() => now);
    const key = tokenKey('r', 'u', ['repository:b:pull', 'repository:a:pull']);
    assert.equal(key, tokenKey('r', 'u', ['repository:a:pull', 'repository:b:pull']));
    const fetch = async () => ({ token: `t${++fetches}`, refreshAt: now + 1000 });
    const [a, b] = await Promise.all([cache.get(key, fetch), cache.get(key, fetch)]);
    assert.deepEqual([a, b, fetches], ['t1', 't1', 1]);
    now = 999;
    assert.equal(await cache.get(key, fetch), 't1');
    now = 1000;
    assert.equal(await cache.get(key, fetch), 't2');
    cache.drop(key, 't2');
    assert.equal(await cache.get(key, fetch), 't3');
  });
});

describe('upload sessions', () => {
  it('reads the offset a session holds from its Range', () => {
    assert.equal(rangeOffset('0-1048575'), 1048576);
    assert.equal(rangeOffset('bytes=0-99'), 100);
    // distribution answers an empty session with 0-0.
    assert.equal(rangeOffset('0-0'), 0);
    assert.equal(rangeOffset(undefined), undefined);
    assert.equal(rangeOffset('5-9'), undefined);
    assert.equal(rangeOffset('junk'), undefined);
  });
  it('records a session URL without a login, keeping distribution state but never a presigned signature', () => {
    assert.equal(
      storableUploadUrl('https://user:pw@reg.example/v2/a/blobs/uploads/u1?_state=abc&x=1'),
      'https://reg.example/v2/a/blobs/uploads/u1?x=1&_state=abc',
    );
    assert.equal(storableUploadUrl('https://store.example/up/u1?X-Amz-Signature=s&X-Amz-Credential=c'), undefined);
    assert.equal(storableUploadUrl('https://reg.example/v2/a/blobs/uploads/u1?sig=abc'), undefined);
  });
  it('writes the Content-Range of a chunk without a unit, as the spec does', () => {
    assert.equal(contentRange(0, 16), '0-15');
    assert.equal(contentRange(16, 1), '16-16');
  });
});
