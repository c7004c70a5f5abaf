/**
 * Reading just enough of a manifest to copy it: the child manifests of an index, or the config and
 * layers of an image, its foreign (non-distributable) layers apart (see foreign-layers.ts). The bytes
 * themselves are never re-serialised; they are pushed as fetched.
 */
import { UnsupportedManifestError } from '../errors.js';
import { isForeignLayer } from './foreign-layers.js';
import { MediaType, type FetchedManifest } from '../registry/types.js';

/** A content descriptor as OCI and Docker schema 2 write it. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
}

/** An index (OCI index or Docker manifest list) or an image manifest. */
export type ParsedManifest =
  | { readonly kind: 'index'; readonly manifests: readonly Descriptor[] }
  | {
      readonly kind: 'image';
      readonly config: Descriptor;
      /** The layers a registry distributes. */
      readonly layers: readonly Descriptor[];
      /** Foreign and non-distributable layers, left out unless asked for. */
      readonly foreign: readonly Descriptor[];
    };

const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);
const IMAGE_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const SCHEMA1_TYPES = new Set<string>([MediaType.DockerSchema1, MediaType.DockerSchema1Signed]);

/** Parses the descriptors out of a fetched manifest; schema 1 and unknown types get a typed error. */
export function parseManifest(fetched: FetchedManifest, what: string): ParsedManifest {
  let json: { schemaVersion?: number; mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  try {
    json = JSON.parse(fetched.bytes.toString('utf8')) as typeof json;
  } catch (error) {
    throw new UnsupportedManifestError(fetched.mediaType, `${what} (not valid JSON)`, { cause: error });
  }
  // Some registries answer with a generic Content-Type; the document's own mediaType then decides.
  const declared =
    INDEX_TYPES.has(fetched.mediaType) || IMAGE_TYPES.has(fetched.mediaType) || SCHEMA1_TYPES.has(fetched.mediaType)
      ? fetched.mediaType
      : (json.mediaType ??
        (json.manifests !== undefined ? MediaType.OciIndex : json.schemaVersion === 1 ? MediaType.DockerSchema1 : MediaType.OciManifest));
  if (SCHEMA1_TYPES.has(declared) || json.schemaVersion === 1) throw new UnsupportedManifestError(MediaType.DockerSchema1, what);
  if (INDEX_TYPES.has(declared)) {
    return { kind: 'index', manifests: (json.manifests ?? []).map(checkDescriptor(what)) };
  }
  if (IMAGE_TYPES.has(declared) && json.config !== undefined) {
    const all = (json.layers ?? []).map(checkDescriptor(what));
    return {
      kind: 'image',
      config: checkDescriptor(what)(json.config),
      layers: all.filter((d) => !isForeignLayer(d)),
      foreign: all.filter((d) => isForeignLayer(d)),
    };
  }
  throw new UnsupportedManifestError(declared, what);
}

function checkDescriptor(what: string): (d: Descriptor) => Descriptor {
  return (d) => {
    if (typeof d?.digest !== 'string' || typeof d.size !== 'number' || d.size < 0) {
      throw new UnsupportedManifestError(String(d?.mediaType), `${what} (a descriptor lacks a digest or size)`);
    }
    return d;
  };
}
