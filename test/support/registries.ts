/**
 * Real CNCF distribution registries (Debian's `docker-registry`) on loopback ports, one process and one
 * temporary storage directory each, with no auth, htpasswd Basic auth, or token auth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { HarnessError } from './harness-error.js';
import { htpasswdFile } from './htpasswd.js';
import { guardChild } from './reaper.js';
import { startTokenServer, type TokenServer, type Acl } from './token-server.js';

export type { TokenServer } from './token-server.js';

/** How a test registry authenticates clients. */
export type RegistryAuth = 'none' | 'basic' | 'token';

/** A running test registry. */
export interface TestRegistry {
  /** "127.0.0.1:PORT": what goes into image references and auth.json keys */
  readonly host: string;
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  readonly auth: RegistryAuth;
  /** set for basic/token: a user allowed to pull and push everywhere */
  readonly username?: string;
  readonly password?: string;
  readonly tokenServer?: TokenServer;
  /** filesystem storage root; blobs live under docker/registry/v2/blobs/sha256/xx/<hex>/data */
  readonly dataDir: string;
  /** The registry's process (the benchmark reads its CPU time). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** default 'none' */
  auth?: RegistryAuth;
  /** default { alice: <random password> } */
  users?: Record<string, string>;
  /**
   * token auth: token lifetime in seconds (default 300), sent as `expires_in` and the JWT `exp`.
   * distribution 2.8 still accepts a token up to 60 s past `exp` (clock-skew leeway), so tests of
   * refresh must count token requests rather than wait for the registry to refuse a stale token.
   */
  tokenTtlSeconds?: number;
  /** token auth: who may do what; default: users pull+push everywhere, anonymous pull everywhere */
  acl?: Acl;
  /** token auth: the realm and service the registry's challenge names (default: the token server's own) */
  tokenRealm?: string;
  tokenService?: string;
  /** token auth: refuse (400) a token request with more scopes than this, as some servers do */
  maxScopesPerToken?: number;
  /**
   * Regular expressions of the foreign layer URLs the registry accepts in manifests
   * (`validation.manifests.urls.allow`). Unset, distribution 2.8 refuses every manifest whose
   * foreign layer has URLs (a 500 with MANIFEST_BLOB_UNKNOWN naming the layer), blob or not; set, it
   * accepts such manifests without holding the layer's blob.
   */
  foreignLayerUrls?: readonly string[];
}

const START_TIMEOUT_MS = 15_000;
const BIND_ATTEMPTS = 5;

/** The `validation` block that lets manifests refer to foreign layers at matching URLs. */
function validationYaml(allow: readonly string[] | undefined): string {
  if (allow === undefined) return '';
  return ['validation:', '  manifests:', '    urls:', '      allow:', ...allow.map((a) => `        - ${JSON.stringify(a)}`)].join('\n');
}

/** The header each test registry answers with its own id: see waitUntilReady. */
const INSTANCE_HEADER = 'X-Test-Registry';

function configYaml(dataDir: string, port: number, authBlock: string, instance: string): string {
  // Maintenance upload purging is off: it walks storage on a timer and only adds noise to short tests.
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    '  headers:',
    `    ${INSTANCE_HEADER}: [${JSON.stringify(instance)}]`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
    authBlock,
    '',
  ].join('\n');
}

/**
 * Waits for `GET /v2/` to answer 200 or 401 with this registry's id; rejects early when the process
 * exits (e.g. port taken). The id matters: between freePort's answer and this registry's bind, another
 * process may take the port, and its answer must not pass for this registry's (which then fails to
 * bind and exits, leaving a test talking to a stranger with other credentials).
 */
async function waitUntilReady(url: string, child: ChildProcess, stderr: () => string, instance: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new HarnessError(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${stderr().slice(-500)}`);
    }
    try {
      const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.headers.get(INSTANCE_HEADER) !== instance) {
        if (response.status === 200 || response.status === 401) throw new HarnessError(`another process answers on ${url}`);
      } else if (response.status === 200 || response.status === 401) return;
    } catch (error) {
      if (error instanceof HarnessError) throw error;
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new HarnessError(`docker-registry did not answer ${url}/v2/ within ${START_TIMEOUT_MS} ms`);
}

function kill(child: ChildProcess, release: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    release();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(force);
      release();
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts a registry process; the port is chosen at run time and retried if another process grabs it. */
async function spawnRegistry(
  dir: string,
  dataDir: string,
  authBlock: string,
): Promise<{ child: ChildProcess; port: number; release: () => void }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt += 1) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    const instance = randomBytes(8).toString('hex');
    await writeFile(configPath, configYaml(dataDir, port, authBlock, instance));
    // A clean environment: REGISTRY_* variables would silently override the config file.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
    const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', (cause) => {
      lastError = cause;
    });
    const release = guardChild(child, dir);
    try {
      await waitUntilReady(`http://127.0.0.1:${port}`, child, () => stderr, instance);
      return { child, port, release };
    } catch (error) {
      lastError = error;
      await kill(child, release);
    }
  }
  throw new HarnessError(`docker-registry did not start after ${BIND_ATTEMPTS} attempts`, { cause: lastError });
}

/** Starts a distribution registry on 127.0.0.1 with its own config, storage and (optionally) token server. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const users = options.users ?? { alice: randomBytes(12).toString('base64url') };
  const [username, password] = auth === 'none' ? [] : (Object.entries(users)[0] ?? []);
  const dir = await mkdtemp(join(tmpdir(), 'im-registry-'));
  const dataDir = join(dir, 'data');
  let tokenServer: TokenServer | undefined;
  try {
    let authBlock = '';
    if (auth === 'basic') {
      const path = join(dir, 'htpasswd');
      await writeFile(path, await htpasswdFile(users), { mode: 0o600 });
      authBlock = ['auth:', '  htpasswd:', '    realm: image-migrator-test', `    path: ${JSON.stringify(path)}`].join('\n');
    } else if (auth === 'token') {
      tokenServer = await startTokenServer({
        users,
        ttlSeconds: options.tokenTtlSeconds,
        acl: options.acl,
        maxScopes: options.maxScopesPerToken,
        service: options.tokenService,
      });
      const bundle = join(dir, 'token-ca.pem');
      await writeFile(bundle, tokenServer.certificatePem);
      authBlock = [
        'auth:',
        '  token:',
        `    realm: ${JSON.stringify(options.tokenRealm ?? tokenServer.realm)}`,
        `    service: ${JSON.stringify(tokenServer.service)}`,
        `    issuer: ${JSON.stringify(tokenServer.issuer)}`,
        `    rootcertbundle: ${JSON.stringify(bundle)}`,
      ].join('\n');
    }
    const validation = validationYaml(options.foreignLayerUrls);
    const { child, port, release } = await spawnRegistry(dir, dataDir, validation === '' ? authBlock : `${authBlock}\n${validation}`);
    const ts = tokenServer;
    let stopped: Promise<void> | undefined;
    return {
      host: `127.0.0.1:${port}`,
      url: `http://127.0.0.1:${port}`,
      auth,
      username,
      password,
      tokenServer,
      dataDir,
      pid: child.pid,
      stop: () => {
        stopped ??= (async () => {
          await kill(child, release);
          await ts?.stop();
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (error) {
    await tokenServer?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The credentials of a client in the tests: every registry `insecure` (plain HTTP on loopback), and the
 * login of those that have one (resolved when asked, so registries started later count too).
 */
export function loopbackCredentials(registries: () => readonly (TestRegistry | undefined)[]): {
  lookup: (registry: string) => { insecure: true; username?: string; password?: string };
} {
  return {
    lookup: (registry) => {
      const r = registries().find((x) => x?.host === registry);
      return {
        insecure: true,
        ...(r?.username === undefined || r.password === undefined ? {} : { username: r.username, password: r.password }),
      };
    },
  };
}
