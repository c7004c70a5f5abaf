/**
 * What each registry wants for authentication, learnt from its challenges and remembered, so that
 * later requests carry credentials up front instead of paying a 401 round trip each.
 */
import type { Credential } from '../credentials.js';
import { challengeScopes, parseAuthChallenges } from './auth-challenge.js';
import { RegistryError } from './registry-error.js';
import { RunScopes } from './run-scopes.js';
import type { RetryListener } from './retry.js';
import { tokenKey, TokenCache, type CachedToken } from './token-cache.js';
import { RequestKind } from './types.js';

/** How a registry authenticates. */
export type AuthScheme =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic' }
  | { readonly kind: 'bearer'; readonly realm: string; readonly service: string | undefined };

/** A token request: where, for what, as whom. */
export interface TokenRequest {
  readonly registry: string;
  readonly realm: string;
  readonly service: string | undefined;
  readonly scopes: readonly string[];
  readonly credential: Credential;
  /** Told of retries of the token request. */
  readonly onRetry?: RetryListener | undefined;
}

/** An Authorization value and, for a token, how to drop it when refused. */
export interface AuthHeader {
  readonly value: string;
  readonly tokenKey?: string;
  readonly token?: string;
  /** Set when the run's shared token served the request: the registry and the scopes the request needed. */
  readonly shared?: { readonly registry: string; readonly scopes: readonly string[] };
}

/** `repository:NAME:pull` or `repository:NAME:pull,push`. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? 'pull,push' : 'pull'}`;
}

function hasLogin(credential: Credential): boolean {
  return credential.username !== undefined || credential.password !== undefined;
}

/** Whether a token request would carry a secret: a login, or Docker's identity (refresh) token. */
export function sendsSecret(credential: Credential): boolean {
  return hasLogin(credential) || credential.identityToken !== undefined;
}

/** The Basic Authorization value of a login. */
export function basicAuth(credential: Credential): string {
  return `Basic ${Buffer.from(`${credential.username ?? ''}:${credential.password ?? ''}`).toString('base64')}`;
}

/** Remembers schemes per registry and hands out Authorization headers. */
export class Authenticator {
  private readonly schemes = new Map<string, AuthScheme>();
  /** Registries whose scheme is remembered from an earlier run (see seed), not yet confirmed by a challenge. */
  private readonly seeded = new Set<string>();
  private readonly tokens: TokenCache;
  /** Repositories the run announced: one token per registry serves them all (see run-scopes.ts). */
  public readonly runScopes = new RunScopes();
  /** Cache keys of the shared scope lists (the same array until the run's scopes change), per login. */
  private readonly sharedKeys = new WeakMap<readonly string[], Map<string, string>>();

  public constructor(
    private readonly fetchToken: (request: TokenRequest) => Promise<CachedToken>,
    now: () => number = Date.now,
  ) {
    this.tokens = new TokenCache(now);
  }

  /** The scheme learnt for a registry, if any. */
  public scheme(registry: string): AuthScheme | undefined {
    return this.schemes.get(registry);
  }

  /**
   * Takes a registry's scheme from an earlier run before it has answered (see endpoint-memory.ts), so
   * that its first request carries credentials. A challenge of the registry replaces it, and a token
   * endpoint that fails makes the request go without credentials to meet the registry's own challenge.
   */
  public seed(registry: string, scheme: AuthScheme): void {
    if (this.schemes.has(registry)) return;
    this.schemes.set(registry, scheme);
    this.seeded.add(registry);
  }

  /**
   * Learns from a response: a 401's challenges (Bearer preferred over Basic, as Docker does), or
   * `none` from any other answer. Returns the challenge's own scopes, which are added to ours. Any
   * answer confirms or replaces a scheme taken from an earlier run (see seed).
   */
  public learn(registry: string, status: number, wwwAuthenticate: string | string[] | undefined): string[] {
    this.seeded.delete(registry);
    if (status !== 401) {
      if (!this.schemes.has(registry)) this.schemes.set(registry, { kind: 'none' });
      return [];
    }
    const challenges = parseAuthChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer !== undefined) {
      this.schemes.set(registry, { kind: 'bearer', realm: bearer.params.realm ?? '', service: bearer.params.service });
      return challengeScopes(bearer);
    }
    if (challenges.some((c) => c.scheme === 'basic')) this.schemes.set(registry, { kind: 'basic' });
    return [];
  }

  /** The Authorization header to send up front, or undefined when none is known to be needed. */
  public async header(
    registry: string,
    credential: Credential,
    scopes: readonly string[],
    onRetry?: RetryListener,
  ): Promise<AuthHeader | undefined> {
    const scheme = this.schemes.get(registry);
    if (scheme === undefined || scheme.kind === 'none') return undefined;
    if (scheme.kind === 'bearer' && this.seeded.has(registry)) {
      try {
        return await this.bearer(registry, scheme, credential, scopes, onRetry, true);
      } catch {
        // The remembered token endpoint failed: the request goes without credentials, and the
        // registry's challenge says where tokens come from now (its failures are then reported).
        if (this.seeded.delete(registry) && this.schemes.get(registry) === scheme) this.schemes.delete(registry);
        return undefined;
      }
    }
    if (scheme.kind === 'basic') return hasLogin(credential) ? { value: basicAuth(credential) } : undefined;
    return this.bearer(registry, scheme, credential, scopes, onRetry);
  }

  /**
   * A token for the scopes: the run's shared token where it covers them, else one of their own.
   * `seeded`: the endpoint is only remembered, so a refusal says nothing about the shared request.
   */
  private async bearer(
    registry: string,
    scheme: Extract<AuthScheme, { kind: 'bearer' }>,
    credential: Credential,
    scopes: readonly string[],
    onRetry: RetryListener | undefined,
    seeded = false,
  ): Promise<AuthHeader> {
    const shared = this.runScopes.covering(registry, scopes);
    if (shared !== undefined) {
      let keys = this.sharedKeys.get(shared);
      if (keys === undefined) this.sharedKeys.set(shared, (keys = new Map<string, string>()));
      let key = keys.get(credential.username ?? '');
      if (key === undefined) keys.set(credential.username ?? '', (key = tokenKey(registry, credential.username, shared)));
      try {
        const token = await this.tokens.get(key, () =>
          this.fetchToken({ registry, realm: scheme.realm, service: scheme.service, scopes: shared, credential, onRetry }),
        );
        return { value: `Bearer ${token}`, tokenKey: key, token, shared: { registry, scopes } };
      } catch (error) {
        // The endpoint answered and refused the shared request (too many scopes, one it will not
        // grant...): from now on each repository asks for its own token, as without announcements.
        if (seeded || !(error instanceof RegistryError) || error.status === undefined) throw error;
        // Told once, as a retry of the token request: the log and the report show why tokens multiply.
        if (this.runScopes.refuse(registry))
          onRetry?.({
            level: 'request',
            kind: RequestKind.Token,
            registry,
            what: `token for ${shared.length} scopes at once`,
            reason: `${error.problem}; each repository asks for its own token from now on`,
            attempt: 1,
            delayMs: 0,
            unavailable: false,
          });
      }
    }
    const key = tokenKey(registry, credential.username, scopes);
    const token = await this.tokens.get(key, () =>
      this.fetchToken({ registry, realm: scheme.realm, service: scheme.service, scopes, credential, onRetry }),
    );
    return { value: `Bearer ${token}`, tokenKey: key, token };
  }

  /** Forgets a token the registry refused. */
  public reject(header: AuthHeader | undefined): void {
    // The shared token may lack what the server would grant this repository alone: the repository
    // gets its own token, and the shared one keeps serving the others.
    if (header?.shared !== undefined) this.runScopes.exclude(header.shared.registry, header.shared.scopes);
    else if (header?.tokenKey !== undefined && header.token !== undefined) this.tokens.drop(header.tokenKey, header.token);
  }
}
