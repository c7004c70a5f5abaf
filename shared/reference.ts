/**
 * Image references as `docker pull` reads them: `[registry/]path[:tag][@digest]`, with Docker Hub's
 * normalisation (`nginx` is `docker.io/library/nginx`) and its many host names folded into one.
 */
import { InvalidReferenceError } from './errors.js';

/** The canonical name of Docker Hub in references. */
export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API is actually served. */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', DOCKER_HUB_ENDPOINT, 'registry.hub.docker.com']);

/** A parsed image reference. `registry` is canonical (Docker Hub is always `docker.io`). */
export interface ImageReference {
  readonly registry: string;
  /** The repository path inside the registry, e.g. `library/nginx` or `coreos/etcd`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;

/** Folds Docker Hub's host names into `docker.io`; other registries are lower-cased. */
export function canonicalRegistry(registry: string): string {
  const lower = registry.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** The host[:port] to send registry API requests to. */
export function registryEndpoint(registry: string): string {
  const canonical = canonicalRegistry(registry);
  return canonical === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : canonical;
}

/** True when the first path segment of a reference names a registry rather than a namespace. */
export function looksLikeRegistry(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost' || segment.startsWith('[');
}

/** Whether a digest is one this tool can verify (sha256). */
export function isSha256Digest(digest: string): boolean {
  return SHA256.test(digest);
}

/**
 * Parses a reference. Without a registry, Docker Hub is assumed; a one-segment Docker Hub path gets
 * `library/`. Neither tag nor digest is invented: callers decide what a missing tag means.
 */
export function parseReference(text: string): ImageReference {
  if (text.length === 0) throw new InvalidReferenceError(text, 'it is empty');
  if (text !== text.trim()) throw new InvalidReferenceError(text, 'it has leading or trailing white space');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(text, `${JSON.stringify(digest)} is not a digest (algorithm:hex)`);
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) {
      throw new InvalidReferenceError(text, 'a sha256 digest has 64 lower-case hex characters');
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(
        text,
        `${JSON.stringify(tag)} is not a valid tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`,
      );
    }
  }

  const segments = rest.split('/');
  let registry = DOCKER_HUB;
  const first = segments[0] ?? '';
  if (segments.length > 1 && looksLikeRegistry(first)) {
    if (!HOST.test(first)) throw new InvalidReferenceError(text, `${JSON.stringify(first)} is not a valid registry host`);
    registry = canonicalRegistry(first);
    segments.shift();
  }
  if (segments.length === 0 || segments.some((s) => s.length === 0)) {
    throw new InvalidReferenceError(text, 'the repository path has an empty segment');
  }
  for (const segment of segments) {
    if (!PATH_COMPONENT.test(segment)) {
      throw new InvalidReferenceError(
        text,
        `${JSON.stringify(segment)} is not a valid repository path segment (lower-case letters, digits and single separators '.', '_', '__', '-')`,
      );
    }
  }
  if (registry === DOCKER_HUB && segments.length === 1) segments.unshift('library');

  const repository = segments.join('/');
  if (repository.length > 255) throw new InvalidReferenceError(text, 'the repository path is longer than 255 characters');
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `registry/repository[:tag][@digest]`, fully qualified. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** `registry/repository`, without tag or digest. */
export function repositoryName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}
