/**
 * The keys of auth.json: `registry` or `registry/path`, where the path is any prefix of repository
 * paths (`quay.io/coreos` covers `quay.io/coreos/etcd`). Keys are canonicalised like references so
 * that Docker Hub's four host names are one registry.
 */
import { canonicalRegistry, looksLikeRegistry } from '../reference.js';

// The grammar of reference.ts: a host[:port] (or [IPv6][:port]) and lower-case path components.
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const EXAMPLE = 'write a registry such as quay.io or localhost:5000, optionally followed by /namespace';

/** The canonical form of an auth.json key, or the problem that makes it invalid. */
export type AuthKeyResult = { readonly key: string } | { readonly problem: string };

/** Validates and canonicalises one auth.json key. */
export function parseAuthKey(text: string): AuthKeyResult {
  if (text.length === 0) return { problem: `the key is empty (${EXAMPLE})` };
  if (text.includes('://')) {
    return { problem: `a key has no scheme (write quay.io, not https://quay.io); ${EXAMPLE}` };
  }
  const [host = '', ...path] = text.split('/');
  if (!HOST.test(host) || !looksLikeRegistry(host)) {
    return { problem: `the key must start with a registry host, which has a dot or a port or is localhost (${EXAMPLE})` };
  }
  if (path.some((segment) => segment.length === 0)) return { problem: 'the key has an empty path segment' };
  const bad = path.find((segment) => !PATH_COMPONENT.test(segment));
  if (bad !== undefined) {
    return {
      problem: `${JSON.stringify(bad)} is not a valid namespace (lower-case letters, digits and single separators '.', '_', '__', '-'; no tag or digest)`,
    };
  }
  return { key: [canonicalRegistry(host), ...path].join('/') };
}
