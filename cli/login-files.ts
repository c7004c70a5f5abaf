/**
 * The credentials of a local run: the `--auth` file (auth.json, or Docker's config.json, told apart
 * by their shape); without `--auth` and without ./auth.json, the logins `docker login` and `podman
 * login` left ($DOCKER_CONFIG/config.json or ~/.docker/config.json, then
 * ${XDG_RUNTIME_DIR}/containers/auth.json). ECR hosts get IAM logins through the AWS SDK, and TLS
 * material comes from the entries or Docker's certs.d directories.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAuthFile } from '../shared/config/auth-file.js';
import { looksLikeDockerConfig, parseDockerConfig } from '../shared/config/docker-config.js';
import { readConfigFile } from '../shared/config/read-config-file.js';
import { credentialHelperRunner, type HelperRunner } from '../shared/credential-sources/credential-helper.js';
import { CredentialChain } from '../shared/credential-sources/credential-chain.js';
import { EcrAccess } from '../shared/credential-sources/ecr-access.js';
import { authFileSource, dockerConfigSource, type LoginSource } from '../shared/credential-sources/login-sources.js';
import { defaultCertsDirectories, TlsFilesLoader } from '../shared/credential-sources/tls-files.js';

/** Settings of the run's credentials. */
export interface LoginFilesOptions {
  /** The --auth path; undefined when the flag was not given. */
  readonly auth: string | undefined;
  readonly env: Record<string, string | undefined>;
  readonly onServed?: (registry: string, via: string) => void;
  readonly onCreated?: (registry: string, repository: string) => void;
  /** Tests: Docker's certs.d directories to search instead of the machine's. */
  readonly certsDirectories?: readonly string[];
  readonly runHelper?: HelperRunner;
}

/** The Docker and podman login files, in the order they are read when --auth is not given. */
export function defaultLoginFiles(env: Record<string, string | undefined>): string[] {
  const home = env.HOME ?? homedir();
  const docker = join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json');
  return env.XDG_RUNTIME_DIR ? [docker, join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')] : [docker];
}

/** Reads one login file of either format. Throws ConfigError naming the file. */
export async function loadLoginFile(path: string, env: Record<string, string | undefined>, runHelper: HelperRunner): Promise<LoginSource> {
  const text = await readConfigFile(path);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    document = undefined; // parseAuthFile reports the syntax error with its line and column
  }
  if (looksLikeDockerConfig(document)) return dockerConfigSource(parseDockerConfig(text, path), path, runHelper);
  return authFileSource(parseAuthFile(text, path, env, dirname(path)), path);
}

/** The run's CredentialChain. Throws ConfigError for an invalid file. */
export async function loginChain(options: LoginFilesOptions): Promise<CredentialChain> {
  const runHelper = options.runHelper ?? credentialHelperRunner({ env: { ...process.env, ...options.env } });
  const explicit = options.auth ?? (existsSync('auth.json') ? 'auth.json' : undefined);
  const paths = explicit !== undefined ? [explicit] : defaultLoginFiles(options.env).filter((path) => existsSync(path));
  const sources = await Promise.all(paths.map((path) => loadLoginFile(path, options.env, runHelper)));
  return new CredentialChain({
    sources,
    ecr: new EcrAccess({ onCreated: options.onCreated }),
    tls: new TlsFilesLoader(options.certsDirectories ?? defaultCertsDirectories(options.env)),
    onServed: options.onServed,
  });
}
