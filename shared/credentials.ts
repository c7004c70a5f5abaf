/**
 * The credentials port. Locally the source is auth.json; on AWS a Secrets Manager secret holding the
 * same document. Both resolve to the same lookup: the entry for a registry and repository path.
 */

/** What a registry needs to be reached: a login (both or neither) and whether TLS may be skipped. */
export interface Credential {
  readonly username?: string;
  readonly password?: string;
  /** Plain HTTP is allowed and TLS certificates are not verified. */
  readonly insecure: boolean;
}

/** The entry that applies to `registry/repository`; anonymous and secure when none matches. */
export interface CredentialSource {
  lookup(registry: string, repository: string): Credential;
}

/** The credential used when no entry matches. */
export const ANONYMOUS: Credential = Object.freeze({ insecure: false });
