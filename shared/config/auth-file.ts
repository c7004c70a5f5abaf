/**
 * auth.json: registry (or registry/namespace) to `{username?, password?, insecure?}`. Read from a
 * file by the CLI and from a Secrets Manager secret on AWS, so parsing works on text.
 */
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { canonicalRegistry } from '../reference.js';
import { ANONYMOUS, type Credential, type CredentialSource } from '../credentials.js';
import { parseAuthKey } from './auth-key.js';
import { VariableExpansionError, expandVariables } from './env-expand.js';
import { describeNode, nodeValue, parseJsonObject, repeatedKey } from './json-document.js';
import { readConfigFile } from './read-config-file.js';

const FIELDS = ['username', 'password', 'insecure'] as const;
const EntrySchema = z.strictObject({
  username: z.string().optional(),
  password: z.string().optional(),
  insecure: z.boolean().optional(),
});
const SHAPE = 'an object of registries, e.g. {"quay.io/coreos": {}, "swr.example.com": {"username": "...", "password": "..."}}';

/**
 * The credentials of auth.json. The entry for an image is the longest key that is a prefix of
 * `registry/repository` at a path-segment boundary; without one, access is anonymous over TLS.
 * Credentials are held in a private field so that logging the object shows no secret.
 */
export class AuthFile implements CredentialSource {
  /** Canonical keys in file order. */
  public readonly keys: string[];
  readonly #entries: ReadonlyMap<string, Credential>;
  readonly #byLength: readonly string[];

  public constructor(entries: ReadonlyMap<string, Credential>) {
    this.#entries = entries;
    this.keys = [...entries.keys()];
    this.#byLength = [...this.keys].sort((a, b) => b.length - a.length);
  }

  /** The key that applies to `registry/repository`, or undefined (anonymous). */
  public matchingKey(registry: string, repository: string): string | undefined {
    const target = repository.length > 0 ? `${canonicalRegistry(registry)}/${repository}` : canonicalRegistry(registry);
    return this.#byLength.find((key) => target === key || target.startsWith(`${key}/`));
  }

  /** The credential for `registry/repository`; ANONYMOUS when no key matches. */
  public lookup(registry: string, repository: string): Credential {
    const key = this.matchingKey(registry, repository);
    return (key === undefined ? undefined : this.#entries.get(key)) ?? ANONYMOUS;
  }
}

/**
 * Parses auth.json text. `file` names the document in messages; `env` supplies `${VAR}` and `$VAR`.
 * Throws ConfigError; no message ever holds a username, password or resolved variable.
 */
export function parseAuthFile(text: string, file: string, env: Record<string, string | undefined> = process.env): AuthFile {
  const members = parseJsonObject(text, file, SHAPE);
  const entries = new Map<string, Credential>();
  const lineOf = new Map<string, number>();
  const writtenAs = new Map<string, string>();
  for (const { key, value, line } of members) {
    const firstLine = lineOf.get(key);
    if (firstLine !== undefined) {
      throw new ConfigError(file, key, `the key appears more than once (lines ${firstLine} and ${line}); keep one entry`);
    }
    lineOf.set(key, line);
    const parsed = parseAuthKey(key);
    if ('problem' in parsed) throw new ConfigError(file, key, parsed.problem);
    const earlier = writtenAs.get(parsed.key);
    if (earlier !== undefined) {
      throw new ConfigError(file, key, `names the same registry as ${JSON.stringify(earlier)} (both are ${parsed.key}); keep one entry`);
    }
    writtenAs.set(parsed.key, key);
    if (value.type !== 'object') {
      throw new ConfigError(file, key, `the value must be an object such as {"username": "...", "password": "..."}, or {} for anonymous access, not ${describeNode(value)}`);
    }
    const repeated = repeatedKey(value);
    if (repeated !== undefined) throw new ConfigError(file, key, `the field ${JSON.stringify(repeated)} appears more than once`);
    entries.set(parsed.key, credentialOf(nodeValue(value) as Record<string, unknown>, file, key, env));
  }
  return new AuthFile(entries);
}

/** Reads and parses auth.json at `path`; a missing file is a ConfigError. */
export async function loadAuthFile(path: string, env: Record<string, string | undefined> = process.env): Promise<AuthFile> {
  return parseAuthFile(await readConfigFile(path), path, env);
}

function credentialOf(raw: Record<string, unknown>, file: string, key: string, env: Record<string, string | undefined>): Credential {
  const result = EntrySchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, key, shapeProblem(result.error, raw));
  const { username, password, insecure = false } = result.data;
  if ((username === undefined) !== (password === undefined)) {
    const [set, missing] = username === undefined ? ['password', 'username'] : ['username', 'password'];
    throw new ConfigError(file, key, `"${set}" is set but "${missing}" is not (give both, or neither for anonymous access)`);
  }
  if (username === undefined || password === undefined) return Object.freeze({ insecure });
  return Object.freeze({
    username: expandField('username', username, file, key, env),
    password: expandField('password', password, file, key, env),
    insecure,
  });
}

function expandField(field: string, text: string, file: string, key: string, env: Record<string, string | undefined>): string {
  let value: string;
  try {
    value = expandVariables(text, env);
  } catch (error) {
    if (!(error instanceof VariableExpansionError)) throw error;
    throw new ConfigError(file, key, `"${field}": ${error.message}`, { cause: error });
  }
  if (value.length === 0) {
    throw new ConfigError(file, key, `"${field}" is empty (leave out username and password for anonymous access)`);
  }
  return value;
}

/** A message for the first schema problem, naming fields and types but never a value. */
function shapeProblem(error: z.ZodError, raw: Record<string, unknown>): string {
  const unknown = error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : []));
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ');
    return `unknown field${unknown.length > 1 ? 's' : ''} ${names} (the fields are username, password and insecure)`;
  }
  const issue = error.issues[0];
  const field = String(issue?.path[0] ?? '');
  const actual = raw[field] === null ? 'null' : Array.isArray(raw[field]) ? 'an array' : `a ${typeof raw[field]}`;
  const expected = field === 'insecure' ? 'true or false' : 'a string';
  return FIELDS.includes(field as (typeof FIELDS)[number]) ? `"${field}" must be ${expected}, not ${actual}` : 'the entry is not valid';
}
