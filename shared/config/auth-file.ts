/**
 * auth.json: registry (or registry/namespace) to `{username?, password?, insecure?, ca?, cert?, key?,
 * ecr?, createRepositories?}`. Read from a file by the CLI and from a Secrets Manager secret on AWS,
 * so parsing works on text; the TLS files an entry names are read later, by the credential chain.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { canonicalRegistry } from '../reference.js';
import { ANONYMOUS, type Credential, type CredentialSource } from '../credentials.js';
import { parseAuthKey } from './auth-key.js';
import { VariableExpansionError, expandVariables } from './env-expand.js';
import { describeNode, nodeValue, parseJsonObject, repeatedKey } from './json-document.js';
import { readConfigFile } from './read-config-file.js';

const FIELDS = ['username', 'password', 'insecure', 'ca', 'cert', 'key', 'ecr', 'createRepositories'] as const;
const CreateRepositoriesSchema = z.strictObject({
  imageTagMutability: z.enum(['MUTABLE', 'IMMUTABLE']).optional(),
  scanOnPush: z.boolean().optional(),
  encryption: z.strictObject({ kms: z.string().min(1).optional() }).optional(),
  tags: z.record(z.string().min(1), z.string()).optional(),
});
const EntrySchema = z.strictObject({
  username: z.string().optional(),
  password: z.string().optional(),
  insecure: z.boolean().optional(),
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  ecr: z
    .strictObject({
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'an AWS region such as eu-west-1')
        .optional(),
    })
    .optional(),
  createRepositories: z.union([z.literal(false), CreateRepositoriesSchema]).optional(),
});

/** How missing repositories of a registry that can create them (ECR) are created; false: never. */
export type CreateRepositories = z.infer<typeof CreateRepositoriesSchema>;

/** An auth.json entry: the credential, plus what the credential chain does with it. */
export interface AuthEntry extends Credential {
  /** Files of PEM text, absolute paths. */
  readonly tlsFiles?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** Logins come from ECR's GetAuthorizationToken (set for `ecr`; ECR hosts use it without a login). */
  readonly ecr?: { readonly region?: string };
  readonly createRepositories?: CreateRepositories | false;
}

/** What matched a lookup, for the log: the entry and its key. */
export interface AuthMatch {
  readonly key: string;
  readonly entry: AuthEntry;
}
const SHAPE = 'an object of registries, e.g. {"quay.io/coreos": {}, "swr.example.com": {"username": "...", "password": "..."}}';

/**
 * The credentials of auth.json. The entry for an image is the longest key that is a prefix of
 * `registry/repository` at a path-segment boundary; without one, access is anonymous over TLS.
 * Credentials are held in a private field so that logging the object shows no secret.
 */
export class AuthFile implements CredentialSource {
  /** Canonical keys in file order. */
  public readonly keys: string[];
  readonly #entries: ReadonlyMap<string, AuthEntry>;
  readonly #byLength: readonly string[];

  public constructor(entries: ReadonlyMap<string, AuthEntry>) {
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
  public lookup(registry: string, repository: string): AuthEntry {
    return this.find(registry, repository)?.entry ?? ANONYMOUS;
  }

  /** The matching key and its entry, or undefined. */
  public find(registry: string, repository: string): AuthMatch | undefined {
    const key = this.matchingKey(registry, repository);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    return key === undefined || entry === undefined ? undefined : { key, entry };
  }
}

/**
 * Parses auth.json text. `file` names the document in messages; `env` supplies `${VAR}` and `$VAR`;
 * relative `ca`, `cert` and `key` paths are taken from `baseDir` (default: the working directory).
 * Throws ConfigError; no message ever holds a username, password or resolved variable.
 */
export function parseAuthFile(text: string, file: string, env: Record<string, string | undefined> = process.env, baseDir = '.'): AuthFile {
  const members = parseJsonObject(text, file, SHAPE);
  const entries = new Map<string, AuthEntry>();
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
      throw new ConfigError(
        file,
        key,
        `the value must be an object such as {"username": "...", "password": "..."}, or {} for anonymous access, not ${describeNode(value)}`,
      );
    }
    const repeated = repeatedKey(value);
    if (repeated !== undefined) throw new ConfigError(file, key, `the field ${JSON.stringify(repeated)} appears more than once`);
    entries.set(parsed.key, entryOf(nodeValue(value) as Record<string, unknown>, file, key, env, baseDir));
  }
  return new AuthFile(entries);
}

/** Reads and parses auth.json at `path`; a missing file is a ConfigError. */
export async function loadAuthFile(path: string, env: Record<string, string | undefined> = process.env): Promise<AuthFile> {
  return parseAuthFile(await readConfigFile(path), path, env, dirname(path));
}

function entryOf(
  raw: Record<string, unknown>,
  file: string,
  key: string,
  env: Record<string, string | undefined>,
  baseDir: string,
): AuthEntry {
  const result = EntrySchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, key, shapeProblem(result.error, raw));
  const { username, password, insecure = false, ca, cert, key: keyFile, ecr, createRepositories } = result.data;
  if ((username === undefined) !== (password === undefined)) {
    const [set, missing] = username === undefined ? ['password', 'username'] : ['username', 'password'];
    throw new ConfigError(file, key, `"${set}" is set but "${missing}" is not (give both, or neither for anonymous access)`);
  }
  if ((cert === undefined) !== (keyFile === undefined)) {
    const [set, missing] = cert === undefined ? ['key', 'cert'] : ['cert', 'key'];
    throw new ConfigError(file, key, `"${set}" is set but "${missing}" is not (a client certificate needs both files)`);
  }
  if (ecr !== undefined && username !== undefined) {
    throw new ConfigError(file, key, '"ecr" and "username"/"password" exclude each other (ECR logins come from GetAuthorizationToken)');
  }
  const path = (p: string | undefined): string | undefined => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(baseDir, p));
  const tlsFiles =
    ca === undefined && cert === undefined
      ? undefined
      : { ...(ca ? { ca: path(ca) } : {}), ...(cert ? { cert: path(cert), key: path(keyFile) } : {}) };
  return Object.freeze({
    ...(username === undefined || password === undefined
      ? {}
      : { username: expandField('username', username, file, key, env), password: expandField('password', password, file, key, env) }),
    insecure,
    ...(tlsFiles === undefined ? {} : { tlsFiles }),
    ...(ecr === undefined ? {} : { ecr }),
    ...(createRepositories === undefined ? {} : { createRepositories }),
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
    const where = error.issues.find((issue) => issue.code === 'unrecognized_keys')?.path.join('.') ?? '';
    return where === ''
      ? `unknown field${unknown.length > 1 ? 's' : ''} ${names} (the fields are ${FIELDS.join(', ')})`
      : `"${where}" has unknown field${unknown.length > 1 ? 's' : ''} ${names}`;
  }
  const issue = error.issues[0];
  const field = String(issue?.path[0] ?? '');
  if (issue !== undefined && issue.path.length > 1) return `"${issue.path.join('.')}": ${issue.message}`;
  const actual = raw[field] === null ? 'null' : Array.isArray(raw[field]) ? 'an array' : `a ${typeof raw[field]}`;
  const expected =
    field === 'insecure'
      ? 'true or false'
      : field === 'ecr'
        ? 'an object such as {"region": "eu-west-1"}'
        : field === 'createRepositories'
          ? 'false or an object such as {"imageTagMutability": "IMMUTABLE"}'
          : field === 'username' || field === 'password'
            ? 'a string'
            : 'the path of a PEM file';
  return FIELDS.includes(field as (typeof FIELDS)[number]) ? `"${field}" must be ${expected}, not ${actual}` : 'the entry is not valid';
}
