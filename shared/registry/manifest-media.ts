/**
 * Which media type a served manifest has. The Content-Type header decides; registries that send
 * `application/json` or nothing get the document's own `mediaType` field, and a schema 1 document
 * (`schemaVersion: 1`) is named as such so it can be refused by name.
 */
import { UnsupportedManifestError } from '../errors.js';
import { MediaType } from './types.js';

/** The Accept header of manifest requests: every type this tool copies, and schema 1 to recognise it. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
  MediaType.DockerSchema1Signed,
  MediaType.DockerSchema1,
].join(', ');

const SUPPORTED = new Set<string>([MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest]);
const SCHEMA1 = new Set<string>([MediaType.DockerSchema1, MediaType.DockerSchema1Signed]);

/** A Content-Type without parameters, lower-cased. */
export function bareContentType(value: string | undefined): string | undefined {
  const bare = value?.split(';')[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}

function fromDocument(bytes: Buffer): string | undefined {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown };
    if (doc.schemaVersion === 1) return MediaType.DockerSchema1;
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    // An OCI document may omit mediaType; its shape tells which one it is.
    if (doc.schemaVersion === 2) return Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  } catch {
    // Not JSON: fall through to the unsupported-type error.
  }
  return undefined;
}

/** The media type of a fetched manifest; throws UnsupportedManifestError for schema 1 and unknown types. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer, what: string): string {
  let type = bareContentType(contentType);
  if (type === undefined || !(SUPPORTED.has(type) || SCHEMA1.has(type))) type = fromDocument(bytes) ?? type ?? 'unknown';
  if (!SUPPORTED.has(type)) throw new UnsupportedManifestError(type, what);
  return type;
}
