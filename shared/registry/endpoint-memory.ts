/**
 * How a registry answered an earlier run, remembered so that the next run's first request goes the
 * right way at once: whether an `insecure` registry speaks plain HTTP (no https attempt first), and
 * how it authenticates (the token endpoint of its Bearer challenge, or Basic), so that the first
 * request carries credentials instead of meeting a 401.
 *
 * A hint only, never trusted over the registry: plain HTTP is used only for a registry the user marked
 * `insecure`; a remembered token endpoint receives a login only on the registry's own host (a state
 * file copied from elsewhere must not send passwords to a host the registry never named); and any
 * refusal or failure of the hinted way falls back to finding out as without a hint.
 */
import type { AuthScheme } from './auth.js';

/** What is remembered of one registry. */
export interface RegistryEndpoint {
  /** The registry answered over plain HTTP (it is marked `insecure`). */
  readonly plainHttp?: boolean;
  /** Its challenge: Basic, or Bearer with its token endpoint. Absent: it asked for none. */
  readonly auth?: Exclude<AuthScheme, { kind: 'none' }>;
}

/** Where endpoints are remembered between runs (the run state). */
export interface EndpointMemory {
  endpoint(registry: string): RegistryEndpoint | undefined;
  rememberEndpoint(registry: string, endpoint: RegistryEndpoint): void;
}

/** Whether two remembered endpoints say the same. */
export function sameEndpoint(a: RegistryEndpoint | undefined, b: RegistryEndpoint): boolean {
  if (a === undefined || (a.plainHttp === true) !== (b.plainHttp === true)) return false;
  if (a.auth === undefined || b.auth === undefined) return a.auth === b.auth;
  if (a.auth.kind !== b.auth.kind) return false;
  return a.auth.kind === 'basic' || (b.auth.kind === 'bearer' && a.auth.realm === b.auth.realm && a.auth.service === b.auth.service);
}

/**
 * The remembered scheme to use before the registry has answered: a Bearer endpoint is used with a
 * login only on the registry's own host name, anonymously anywhere.
 */
export function usableAuth(registryHost: string, endpoint: RegistryEndpoint | undefined, hasLogin: boolean): AuthScheme | undefined {
  const auth = endpoint?.auth;
  if (auth === undefined || auth.kind === 'basic' || !hasLogin) return auth;
  let realmHost: string;
  try {
    realmHost = new URL(auth.realm).hostname;
  } catch {
    return undefined;
  }
  return realmHost === new URL(`http://${registryHost}`).hostname ? auth : undefined;
}
