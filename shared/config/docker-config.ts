/**
 * Docker's `config.json` (and podman's `auth.json`, the same format): `auths` with a base64 `auth`
 * ("user:password"), `username`/`password` or an `identitytoken`; `credHelpers` naming a helper per
 * registry; `credsStore` naming the helper for every other registry. Other fields are Docker's own
 * and ignored. Parsing works on text; nothing here runs a helper or shows a secret.
 */
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { canonicalRegistry } from '../reference.js';

/** A login stored in `auths`. */
export interface DockerLogin {
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
}

/** The parts of a Docker config that give logins. */
export interface DockerConfig {
  /** Canonical registry to stored login (entries without one, as `credsStore` writes, are left out). */
  readonly auths: ReadonlyMap<string, DockerLogin>;
  /** Canonical registry to helper name (`docker-credential-NAME`). */
  readonly credHelpers: ReadonlyMap<string, string>;
  readonly credsStore: string | undefined;
}

const HELPER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const AuthSchema = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});
const ConfigSchema = z.looseObject({
  auths: z.record(z.string(), AuthSchema).optional(),
  credHelpers: z.record(z.string(), z.string().regex(HELPER, 'a helper name such as "ecr-login"')).optional(),
  credsStore: z.string().regex(HELPER, 'a helper name such as "desktop"').optional(),
});

/** True for a parsed JSON document that has the shape of a Docker config rather than auth.json. */
export function looksLikeDockerConfig(document: unknown): boolean {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return false;
  return ['auths', 'credHelpers', 'credsStore'].some((key) => key in document);
}

/**
 * The registry a Docker config key names: Docker writes `https://index.docker.io/v1/` for Docker Hub
 * and sometimes a scheme or path for others; only the host counts.
 */
export function dockerConfigRegistry(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  return canonicalRegistry(host);
}

/** Parses a Docker config's text. `file` names it in messages. Throws ConfigError. */
export function parseDockerConfig(text: string, file: string): DockerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError(file, undefined, 'the file is not valid JSON');
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      file,
      issue?.path.map(String).join('.') || undefined,
      `not a valid Docker config: ${issue?.message ?? 'invalid'}`,
    );
  }
  const auths = new Map<string, DockerLogin>();
  for (const [key, entry] of Object.entries(result.data.auths ?? {})) {
    const login = loginOf(entry, file, key);
    if (login !== undefined) auths.set(dockerConfigRegistry(key), login);
  }
  const credHelpers = new Map(
    Object.entries(result.data.credHelpers ?? {}).map(([key, name]) => [dockerConfigRegistry(key), name] as const),
  );
  return { auths, credHelpers, credsStore: result.data.credsStore };
}

function loginOf(entry: z.infer<typeof AuthSchema>, file: string, key: string): DockerLogin | undefined {
  const where = `auths.${key}`;
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // The decoded text is never quoted: it is the password.
    if (colon <= 0 || colon === decoded.length - 1) throw new ConfigError(file, where, '"auth" is not base64 of "username:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (entry.username || entry.password) throw new ConfigError(file, where, '"username" and "password" must be given together');
  return undefined;
}
