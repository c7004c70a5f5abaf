/**
 * Registry credentials from a Secrets Manager secret holding an auth.json document. The secret is
 * read through Powertools Parameters, which caches it for `maxAgeSeconds`, so a warm container
 * reads it at most once per interval while a rotated secret is still picked up.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { parseAuthFile, type AuthFile } from '../../shared/config/auth-file.js';
import { ANONYMOUS, type Credential, type CredentialSource } from '../../shared/credentials.js';

/** How the secret appears in error messages: never its ARN's value, never its content. */
export const SECRET_FILE_NAME = 'auth secret';

/** Reads the secret text; undefined when the secret has no string value. */
export type SecretReader = () => Promise<string | undefined>;

/** A reader through Powertools' SecretsProvider with caching. */
export function powertoolsSecretReader(secretId: string, options: { client?: SecretsManagerClient; maxAgeSeconds?: number } = {}): SecretReader {
  const provider = new SecretsProvider(options.client === undefined ? {} : { awsSdkV3Client: options.client });
  const maxAge = options.maxAgeSeconds ?? 300;
  return async () => {
    const value = await provider.get(secretId, { maxAge });
    return typeof value === 'string' ? value : undefined;
  };
}

/**
 * A CredentialSource whose entries come from the secret. `refresh()` is awaited before work starts
 * (the registry client's `lookup` is synchronous); it re-parses only when the text changed.
 * `${VAR}` references are not expanded here: the cloud CLI resolves them before storing the secret.
 */
export class SecretCredentials implements CredentialSource {
  #text: string | undefined;
  #auth: AuthFile | undefined;
  #loaded = false;

  public constructor(private readonly read: SecretReader | undefined) {}

  /** Loads or reloads the secret; throws ConfigError when its content is not a valid auth.json. */
  public async refresh(): Promise<void> {
    if (this.read === undefined) {
      this.#loaded = true;
      return;
    }
    const text = await this.read();
    if (this.#loaded && text === this.#text) return;
    const trimmed = text?.trim() ?? '';
    this.#auth = trimmed.length === 0 ? undefined : parseAuthFile(trimmed, SECRET_FILE_NAME, {});
    this.#text = text;
    this.#loaded = true;
  }

  /** The credential for `registry/repository`; anonymous when the secret has no matching entry. */
  public lookup(registry: string, repository: string): Credential {
    if (!this.#loaded) throw new Error('registry credentials used before the auth secret was loaded');
    return this.#auth?.lookup(registry, repository) ?? ANONYMOUS;
  }
}
