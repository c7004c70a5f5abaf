/**
 * Rule 8 of images.json, also used by cluster discovery: where an image goes when no destination is
 * written. The repository path after the source's registry and its first namespace segment, under
 * the default registry and namespace, with the same tag.
 */
import type { ImageReference } from '../reference.js';
import { canonicalRegistry } from '../reference.js';

/** `quay.io/coreos/etcd:3.5` to `registry/namespace/etcd:3.5`; `nginx` to `registry/namespace/nginx`. */
export function defaultDestination(source: ImageReference, registry: string, namespace: string): ImageReference {
  const segments = source.repository.split('/');
  const path = segments.length > 1 ? segments.slice(1).join('/') : segments.join('/');
  const ns = namespace.replace(/^\/+|\/+$/g, '');
  return {
    registry: canonicalRegistry(registry),
    repository: ns.length > 0 ? `${ns}/${path}` : path,
    ...(source.tag === undefined ? {} : { tag: source.tag }),
  };
}
