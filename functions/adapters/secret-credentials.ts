/**
 * Registry credentials from a Secrets Manager secret holding an auth.json document. The secret is
 * read through Powertools Parameters, which caches it for `maxAgeSeconds`, so a warm container
 * reads it at most once per interval while a rotated secret is still picked up.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { parseAuthFile, type AuthFile, type AuthMatch } from '../../shared/config/auth-file.js';
import { VariableExpansionError } from '../../shared/config/env-expand.js';
import { ANONYMOUS, type Credential, type CredentialSource } from '../../shared/credentials.js';
import { ConfigError } from '../../shared/errors.js';

/** How the secret appears in error messages: never its ARN's value, never its content. */
export const SECRET_FILE_NAME = 'auth secret';

/** Reads the secret text; undefined when the secret has no string value. */
export type SecretReader = () => Promise<string | undefined>;

/** A reader through Powertools' SecretsProvider with caching. */
export function powertoolsSecretReader(
  secretId: string,
  options: { client?: SecretsManagerClient; maxAgeSeconds?: number } = {},
): SecretReader {
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
    this.#auth = trimmed.length === 0 ? undefined : parseSecret(trimmed);
    this.#text = text;
    this.#loaded = true;
  }

  /** The matching entry and its key, for the credential chain; undefined when none matches. */
  public find(registry: string, repository: string): AuthMatch | undefined {
    if (!this.#loaded) throw new Error('registry credentials used before the auth secret was loaded');
    return this.#auth?.find(registry, repository);
  }

  /** The credential for `registry/repository`; anonymous when the secret has no matching entry. */
  public lookup(registry: string, repository: string): Credential {
    if (!this.#loaded) throw new Error('registry credentials used before the auth secret was loaded');
    return this.#auth?.lookup(registry, repository) ?? ANONYMOUS;
  }
}

/**
 * Parses the secret with an empty environment. A `$` left in a username or password means the
 * secret was written by hand rather than by `cloud auth put`; the usual message would name the
 * "variable" after the `$`, which here is a piece of the password, and it would be copied into
 * every task's error, the table and the logs. So the message names only the key and the field.
 */
function parseSecret(text: string): AuthFile {
  try {
    return parseAuthFile(text, SECRET_FILE_NAME, {});
  } catch (error) {
    if (!(error instanceof ConfigError) || !(error.cause instanceof VariableExpansionError)) throw error;
    const field = /^"(username|password)"/.exec(error.problem)?.[1] ?? 'username or password';
    throw new ConfigError(
      SECRET_FILE_NAME,
      error.key,
      `"${field}" holds a "$" reference (such as $NAME or \${NAME}), which the functions do not expand; store auth.json with "image-migrator cloud auth put" (it resolves \${VAR} and keeps a literal "$"), or write "$$" for a literal "$"`,
    );
  }
}
