/**
 * Where logins are found: an auth.json document, or a Docker/podman config with its stored logins
 * and credential helpers. Each answers "which entry applies to this registry and repository, and how
 * to name where it came from" (for the log; never the secret).
 */
import type { AuthEntry, AuthFile } from '../config/auth-file.js';
import type { DockerConfig, DockerLogin } from '../config/docker-config.js';
import { helperServerUrl, type HelperRunner } from './credential-helper.js';

/** An entry and where it came from. */
export interface LoginMatch {
  readonly entry: AuthEntry;
  /** e.g. `auth.json key "quay.io/coreos"`, `credential helper docker-credential-gcloud` */
  readonly via: string;
}

/** One place logins are looked up. */
export interface LoginSource {
  find(registry: string, repository: string): LoginMatch | undefined | Promise<LoginMatch | undefined>;
}

/** An auth.json document (a file, or the auth secret on AWS) named `name` in the log. */
export function authFileSource(file: Pick<AuthFile, 'find'>, name: string): LoginSource {
  return {
    find: (registry, repository) => {
      const match = file.find(registry, repository);
      return match === undefined ? undefined : { entry: match.entry, via: `${name} key ${JSON.stringify(match.key)}` };
    },
  };
}

/**
 * A Docker config at `name`: `credHelpers` for its registries first, then a stored login in `auths`,
 * then `credsStore`, as Docker itself resolves them. A helper runs once per registry and run.
 */
export function dockerConfigSource(config: DockerConfig, name: string, runHelper: HelperRunner): LoginSource {
  const asked = new Map<string, Promise<LoginMatch | undefined>>();
  const viaHelper = (helper: string, registry: string): Promise<LoginMatch | undefined> => {
    const key = `${helper} ${registry}`;
    let pending = asked.get(key);
    if (pending === undefined) {
      pending = runHelper(helper, helperServerUrl(registry)).then((login) =>
        login === undefined
          ? undefined
          : { entry: entryOf(login, registry), via: `credential helper docker-credential-${helper} (${name})` },
      );
      asked.set(key, pending);
    }
    return pending;
  };
  return {
    find: (registry) => {
      const helper = config.credHelpers.get(registry);
      if (helper !== undefined) return viaHelper(helper, registry);
      const stored = config.auths.get(registry);
      if (stored !== undefined) return { entry: entryOf(stored, registry), via: name };
      return config.credsStore === undefined ? undefined : viaHelper(config.credsStore, registry);
    },
  };
}

/**
 * Docker's config has no per-registry TLS switch: Docker treats registries on loopback addresses as
 * insecure (its default `insecure-registries` is 127.0.0.0/8), and so do its logins here.
 */
function entryOf(login: DockerLogin, registry: string): AuthEntry {
  return Object.freeze({ ...login, insecure: isLoopback(registry) });
}

function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
