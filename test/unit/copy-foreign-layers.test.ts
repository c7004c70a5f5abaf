/**
 * Which manifest refusals are about foreign layers, and what a left-out layer records.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ForeignLayerRefusedError, leftOut, LeftOutLayers, refusedForeignLayers } from '../../shared/copy/foreign-layers.js';
import { errorMessage } from '../../shared/pipeline/error-message.js';
import { RegistryError } from '../../shared/registry/registry-error.js';
import { isRetryable } from '../../shared/registry/retry.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const a = { mediaType: FOREIGN, digest: digest('a'), size: 10, urls: ['https://mcr.example.com/a'] };
const b = { mediaType: FOREIGN, digest: digest('b'), size: 20 };
const url = 'http://r.example/v2/win/app/manifests/1';

const refusal = (status: number, codes: { code: string; message: string; detail?: string; detailIsText?: boolean }[]): RegistryError =>
  new RegistryError({ method: 'PUT', url, status, codes });

describe('refusedForeignLayers', () => {
  it("names the layer distribution's 500 names (its config refuses foreign layer URLs)", () => {
    const error = refusal(500, [
      { code: 'UNKNOWN', message: 'unknown error' },
      { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: digest('b'), detailIsText: true },
    ]);
    assert.equal(error.retryable, false);
    assert.deepEqual(refusedForeignLayers(error, [a, b]), [b]);
  });

  it('takes every foreign layer when the text speaks of them, or a blob is unknown without a name', () => {
    assert.deepEqual(
      refusedForeignLayers(refusal(400, [{ code: 'MANIFEST_INVALID', message: 'foreign layer URLs not allowed' }]), [a, b]),
      [a, b],
    );
    assert.deepEqual(refusedForeignLayers(refusal(400, [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown' }]), [a]), [a]);
  });

  it('leaves other refusals alone: another blob named, no foreign layer, access refused, a transient failure', () => {
    const other = refusal(400, [
      { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: digest('c'), detailIsText: true },
    ]);
    assert.equal(refusedForeignLayers(other, [a]), undefined);
    assert.equal(refusedForeignLayers(refusal(400, [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown' }]), []), undefined);
    assert.equal(refusedForeignLayers(refusal(403, [{ code: 'DENIED', message: 'foreign layers denied' }]), [a]), undefined);
    assert.equal(refusedForeignLayers(refusal(503, []), [a]), undefined);
    assert.equal(refusedForeignLayers(new Error('foreign'), [a]), undefined);
  });
});

describe('left-out layers', () => {
  it('records digest, size, media type, urls (without secrets) and why; each layer once', () => {
    const signed = { ...a, urls: ['https://blobs.example.com/a?sig=secret&v=1'] };
    const layers = new LeftOutLayers();
    assert.equal(layers.list, undefined);
    layers.add(signed);
    layers.add(signed);
    layers.add(b);
    assert.deepEqual(layers.list, [
      {
        digest: digest('a'),
        size: 10,
        mediaType: FOREIGN,
        urls: ['https://blobs.example.com/a?v=1'],
        reason: 'foreign (non-distributable) layer, not copied as docker push does; pulls fetch it from its urls',
      },
      leftOut(b),
    ]);
    assert.match(leftOut(b).reason, /it names no urls, so pulls from the destination need it copied with --include-foreign-layers/);
  });

  it('is a refusal no layer retries, whose message keeps the registry answer as its cause', () => {
    const cause = refusal(500, [
      { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: digest('a'), detailIsText: true },
    ]);
    const error = new ForeignLayerRefusedError([a], 'the manifest r.example/win/app:1', false, { cause });
    assert.equal(isRetryable(error), false);
    assert.equal(
      errorMessage(error),
      `the manifest r.example/win/app:1 was refused because of its foreign layer ${digest('a')} (${FOREIGN}, 10 bytes, urls https://mcr.example.com/a): the layer was left out (foreign layers are not copied by default) and the destination does not accept a manifest referring to it; let the destination accept foreign layers (distribution: validation.manifests.urls.allow), or copy the layer with --include-foreign-layers (or "foreignLayers": true in the rule) where the source serves it: PUT ${url}: 500 Internal Server Error: MANIFEST_BLOB_UNKNOWN: blob unknown to registry (${digest('a')})`,
    );
  });
});
