import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactUrl } from '../../shared/registry/redact.js';
import { parseErrorCodes, RegistryError } from '../../shared/registry/registry-error.js';
import { stallReason } from '../../shared/registry/stall.js';

describe('RegistryError', () => {
  it('names method, URL, status and the registry codes', () => {
    const err = new RegistryError({
      method: 'GET',
      url: 'http://host:5000/v2/repo/manifests/tag',
      status: 404,
      codes: parseErrorCodes('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"tag"}}]}'),
    });
    assert.equal(err.message, 'GET http://host:5000/v2/repo/manifests/tag: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown');
    assert.equal(err.name, 'RegistryError');
    assert.equal(err.retryable, false);
    assert.ok(err.hasCode('MANIFEST_UNKNOWN'));
  });

  it("words undici's head and body timeouts as stalls, and nothing else", () => {
    assert.match(stallReason({ code: 'UND_ERR_HEADERS_TIMEOUT' }) ?? '', /^stalled: no answer for the stall timeout/);
    assert.match(stallReason({ code: 'UND_ERR_BODY_TIMEOUT' }) ?? '', /^stalled: the answer took no data for the stall timeout/);
    assert.equal(stallReason({ code: 'ECONNRESET' }), undefined);
    assert.equal(stallReason(undefined), undefined);
  });

  it('marks network errors, 408, 429 and 5xx retryable', () => {
    assert.equal(new RegistryError({ method: 'GET', url: 'http://h/', status: 503 }).retryable, true);
    assert.equal(new RegistryError({ method: 'GET', url: 'http://h/', status: 429 }).retryable, true);
    assert.equal(new RegistryError({ method: 'GET', url: 'http://h/', status: 408 }).retryable, true);
    assert.equal(new RegistryError({ method: 'GET', url: 'http://h/', status: 403 }).retryable, false);
    assert.equal(new RegistryError({ method: 'GET', url: 'http://h/', reason: 'network error: ECONNRESET' }).retryable, true);
  });

  it('reads bare and malformed error bodies', () => {
    assert.deepEqual(parseErrorCodes('{"code":"DENIED","message":"no"}'), [{ code: 'DENIED', message: 'no' }]);
    assert.deepEqual(parseErrorCodes('<html>bad gateway</html>'), []);
    assert.deepEqual(parseErrorCodes('{"errors":[{"message":"no code"}]}'), []);
  });
});

describe('URL redaction', () => {
  it('drops upload state, signatures, tokens and logins but keeps the digest', () => {
    const shown = redactUrl('http://u:p@h:5000/v2/r/blobs/uploads/abc?_state=SECRET&digest=sha256%3Aaa');
    assert.equal(shown, 'http://h:5000/v2/r/blobs/uploads/abc?digest=sha256%3Aaa');
    const s3 = redactUrl('https://b.s3.amazonaws.com/x?X-Amz-Signature=S&X-Amz-Credential=C&X-Amz-Date=D&partNumber=1');
    assert.equal(s3, 'https://b.s3.amazonaws.com/x?partNumber=1');
    assert.equal(redactUrl('https://cdn/x?token=T&sig=S&Signature=S2&Expires=1'), 'https://cdn/x');
  });

  it('never shows a secret in an error message', () => {
    const err = new RegistryError({ method: 'PUT', url: 'http://h/v2/r/blobs/uploads/1?_state=topsecret&digest=sha256:1', status: 500 });
    assert.doesNotMatch(err.message, /topsecret/);
    assert.doesNotMatch(err.url, /topsecret/);
  });
});
