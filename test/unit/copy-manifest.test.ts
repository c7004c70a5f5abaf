/**
 * What the copier reads out of a manifest, and the errors for manifests it does not copy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifest } from '../../shared/copy/manifest.js';
import { UnsupportedManifestError } from '../../shared/errors.js';
import { MediaType } from '../../shared/registry/types.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const fetched = (mediaType: string, doc: unknown) => ({ mediaType, digest: digest('0'), bytes: Buffer.from(JSON.stringify(doc)) });

describe('parseManifest', () => {
  it('lists the config and layers of an image, foreign (non-distributable) layers apart', () => {
    const parsed = parseManifest(
      fetched(MediaType.DockerManifest, {
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digest('a'), size: 10 },
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: digest('b'), size: 20 },
          {
            mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
            digest: digest('c'),
            size: 30,
            urls: ['https://example.com/l'],
          },
        ],
      }),
      'r/x:1',
    );
    assert.equal(parsed.kind, 'image');
    assert.deepEqual(parsed.kind === 'image' ? [parsed.config.digest, ...parsed.layers.map((l) => l.digest)] : [], [
      digest('a'),
      digest('b'),
    ]);
    assert.deepEqual(parsed.kind === 'image' ? parsed.foreign.map((l) => l.digest) : [], [digest('c')]);
  });

  it("sets apart every foreign media type, with or without urls, and OCI's nondistributable types", () => {
    const types = [
      'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    ];
    const parsed = parseManifest(
      fetched(MediaType.OciManifest, {
        schemaVersion: 2,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest('a'), size: 10 },
        layers: [
          ...types.map((mediaType, i) => ({
            mediaType,
            digest: digest(String(i + 1)),
            size: 5,
            ...(i % 2 === 0 ? { urls: ['https://x/l'] } : {}),
          })),
          // An ordinary layer with urls is distributable: it is copied like any other.
          { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest('9'), size: 5, urls: ['https://x/l'] },
        ],
      }),
      'r/x:1',
    );
    assert.deepEqual(parsed.kind === 'image' ? parsed.foreign.map((l) => l.mediaType) : [], types);
    assert.deepEqual(parsed.kind === 'image' ? parsed.layers.map((l) => l.digest) : [], [digest('9')]);
  });

  it('lists the children of an OCI index and of a Docker manifest list', () => {
    for (const type of [MediaType.OciIndex, MediaType.DockerManifestList]) {
      const parsed = parseManifest(
        fetched(type, { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: digest('d'), size: 5 }] }),
        'r/x:1',
      );
      assert.deepEqual(parsed.kind === 'index' ? parsed.manifests.map((m) => m.digest) : [], [digest('d')]);
    }
  });

  it("uses the document's own mediaType when the registry answers a generic content type", () => {
    const parsed = parseManifest(fetched('application/json', { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), 'r/x:1');
    assert.equal(parsed.kind, 'index');
  });

  it('rejects schema 1 with an error that says what to do', () => {
    assert.throws(
      () => parseManifest(fetched(MediaType.DockerSchema1Signed, { schemaVersion: 1, fsLayers: [] }), 'old.io/team/legacy:1'),
      (error: unknown) =>
        error instanceof UnsupportedManifestError &&
        error.message ===
          'old.io/team/legacy:1 is a Docker schema 1 manifest (application/vnd.docker.distribution.manifest.v1+json), which is deprecated and not supported; re-push it with a current Docker or use an image built as schema 2 or OCI',
    );
  });

  it('rejects an unknown media type by name', () => {
    assert.throws(
      () =>
        parseManifest(fetched('application/vnd.example.thing', { schemaVersion: 2, mediaType: 'application/vnd.example.thing' }), 'r/x:1'),
      /r\/x:1 has the unsupported manifest media type "application\/vnd.example.thing"/,
    );
  });
});
