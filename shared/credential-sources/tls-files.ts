/**
 * A registry's TLS material: the `ca`, `cert` and `key` files of its auth.json entry, else Docker's
 * and podman's per-host directories (`certs.d/HOST[:PORT]/`: `*.crt` are CAs, `NAME.cert` with
 * `NAME.key` a client certificate). Read once per registry and run.
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TlsMaterial } from '../credentials.js';
import { ConfigError } from '../errors.js';

/** Docker's and podman's directories, in the order they are searched. */
export function defaultCertsDirectories(env: Record<string, string | undefined> = process.env): string[] {
  const home = env.HOME ?? homedir();
  return ['/etc/docker/certs.d', '/etc/containers/certs.d', join(home, '.config', 'containers', 'certs.d')];
}

/** Files named by an auth.json entry. */
export interface TlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Loads and caches TLS material per registry. */
export class TlsFilesLoader {
  private readonly loaded = new Map<string, Promise<TlsMaterial | undefined>>();

  public constructor(private readonly certsDirectories: readonly string[]) {}

  /** The material for `registry`: the entry's files when it names any, else certs.d; undefined when none. */
  public material(registry: string, files: TlsFiles | undefined, describe: string): Promise<TlsMaterial | undefined> {
    const key = `${registry} ${describe}`;
    let pending = this.loaded.get(key);
    if (pending === undefined) {
      pending = files === undefined ? this.fromCertsDirectories(registry) : fromEntry(files, describe);
      this.loaded.set(key, pending);
    }
    return pending;
  }

  private async fromCertsDirectories(registry: string): Promise<TlsMaterial | undefined> {
    const hosts = registry === 'docker.io' ? ['docker.io', 'registry-1.docker.io'] : [registry];
    for (const root of this.certsDirectories) {
      for (const host of hosts) {
        const dir = join(root, host);
        let names: string[];
        try {
          names = (await readdir(dir)).sort();
        } catch {
          continue;
        }
        const ca = await Promise.all(names.filter((n) => n.endsWith('.crt')).map((n) => readPem(join(dir, n), dir)));
        const certName = names.find((n) => n.endsWith('.cert'));
        const keyName = certName === undefined ? undefined : `${certName.slice(0, -'.cert'.length)}.key`;
        if (keyName !== undefined && !names.includes(keyName))
          throw new ConfigError(join(dir, certName ?? ''), undefined, `the client certificate has no key file ${keyName} beside it`);
        const cert = certName === undefined ? undefined : await readPem(join(dir, certName), dir);
        const key = keyName === undefined ? undefined : await readPem(join(dir, keyName), dir);
        if (ca.length === 0 && cert === undefined) continue;
        return { ...(ca.length > 0 ? { ca } : {}), ...(cert === undefined ? {} : { cert, key }) };
      }
    }
    return undefined;
  }
}

async function fromEntry(files: TlsFiles, describe: string): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all(
    [files.ca, files.cert, files.key].map((p) => (p === undefined ? Promise.resolve(undefined) : readPem(p, describe))),
  );
  return { ...(ca === undefined ? {} : { ca: [ca] }), ...(cert === undefined ? {} : { cert, key }) };
}

async function readPem(path: string, describe: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(describe, undefined, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: error,
    });
  }
  if (!text.includes('-----BEGIN ')) throw new ConfigError(describe, undefined, `${path} is not a PEM file`);
  return text;
}
