/**
 * The image strings of a pod spec: regular, init (including sidecars) and ephemeral (debug) containers.
 */
import type { V1PodSpec } from '@kubernetes/client-node';

/** Every non-empty image named in `spec`, in spec order, duplicates kept. */
export function podSpecImages(spec: V1PodSpec): string[] {
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
  // Deployments may leave `image` empty when an admission controller fills it in later.
  return containers.map((c) => c.image?.trim() ?? '').filter((image) => image.length > 0);
}
