/**
 * The credentials port. Locally the source is a chain (auth.json or Docker's and podman's logins,
 * credential helpers, ECR through the AWS SDK); on AWS a Secrets Manager secret holding an auth.json
 * document. All resolve to the same lookup: what a registry and repository path need to be reached.
 */

/** PEM texts for one registry's TLS: extra trusted CAs, and a client certificate for mutual TLS. */
export interface TlsMaterial {
  readonly ca?: readonly string[];
  readonly cert?: string;
  readonly key?: string;
}

/** What a registry needs to be reached: a login (both or neither) and whether TLS may be skipped. */
export interface Credential {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token realm for access tokens. */
  readonly identityToken?: string;
  /** Plain HTTP is allowed and TLS certificates are not verified. */
  readonly insecure: boolean;
  /** Private CAs and a client certificate; certificates are still verified. */
  readonly tls?: TlsMaterial;
}

/** What a request does: reads, needs push rights (a destination HEAD), or writes (a push, which may first need its repository created). */
export type Access = 'pull' | 'push' | 'write';

/** The entry that applies to `registry/repository`; anonymous and secure when none matches. */
export interface CredentialSource {
  lookup(registry: string, repository: string, access?: Access): Credential | Promise<Credential>;
  /**
   * A login the registry refused with 401: a source whose logins expire (ECR tokens) returns a fresh
   * one to try once more; undefined when nothing better is known.
   */
  renew?(registry: string, repository: string, refused: Credential): Promise<Credential | undefined>;
}

/** The credential used when no entry matches. */
export const ANONYMOUS: Credential = Object.freeze({ insecure: false });
