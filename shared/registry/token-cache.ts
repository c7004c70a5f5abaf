/**
 * Bearer tokens per registry, login and scope set. A token is used until shortly before it expires
 * (a margin of a fifth of its life, at most 30 s) so that a long copy never sends an expired token;
 * concurrent requests for the same key share one token request.
 */

/** A token and when it stops being used. */
export interface CachedToken {
  readonly token: string;
  /** Epoch ms after which the token is refreshed. */
  readonly refreshAt: number;
}

/** Token lifetime when the server does not say (the distribution token spec's default). */
export const DEFAULT_TOKEN_TTL_SECONDS = 60;
const MAX_MARGIN_MS = 30_000;

/** When a token issued now with `expiresIn` seconds should be replaced. */
export function refreshTime(expiresIn: number | undefined, now: number = Date.now()): number {
  const ttlMs = (expiresIn !== undefined && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_TTL_SECONDS) * 1000;
  return now + ttlMs - Math.min(MAX_MARGIN_MS, ttlMs / 5);
}

/** The cache key: scopes are sorted so that the same set always hits. */
export function tokenKey(registry: string, username: string | undefined, scopes: readonly string[]): string {
  return `${registry}\u0000${username ?? ''}\u0000${[...scopes].sort().join(' ')}`;
}

/** Tokens by key, with in-flight requests shared. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  public constructor(private readonly now: () => number = Date.now) {}

  /** A valid cached token, or the result of `fetch` (shared by concurrent callers). */
  public async get(key: string, fetch: () => Promise<CachedToken>): Promise<string> {
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.refreshAt > this.now()) return cached.token;
    let inflight = this.pending.get(key);
    if (inflight === undefined) {
      inflight = fetch().finally(() => this.pending.delete(key));
      this.pending.set(key, inflight);
      inflight.then(
        (t) => this.tokens.set(key, t),
        () => undefined,
      );
    }
    return (await inflight).token;
  }

  /** Forgets a token the registry refused, unless it was already replaced. */
  public drop(key: string, token: string): void {
    if (this.tokens.get(key)?.token === token) this.tokens.delete(key);
  }
}
