/**
 * A registry client for tests that records every request it makes (kind and status).
 */
import { RegistryClient, type RegistryClientOptions } from '../../shared/registry/client.js';
import type { RequestKind } from '../../shared/registry/types.js';

/** Requests seen, in order: kind and status (0 when no response came). */
export type Seen = [RequestKind, number][];

/** A client for an insecure (plain-HTTP) test registry, with the given login, recording its requests. */
export function clientFor(
  r: { host: string },
  login: { username?: string; password?: string } = {},
  extra: Partial<RegistryClientOptions> = {},
) {
  const seen: Seen = [];
  const client = new RegistryClient({
    credentials: { lookup: () => ({ ...login, insecure: true }) },
    onRequest: (kind, status) => seen.push([kind, status]),
    retry: { baseDelayMs: 20 },
    ...extra,
  });
  return { client, seen, repo: (repository: string) => ({ registry: r.host, repository }) };
}

/** How many requests of a kind (and status) were seen. */
export const count = (seen: Seen, kind: string, status?: number) =>
  seen.filter(([k, s]) => k === kind && (status === undefined || s === status)).length;
