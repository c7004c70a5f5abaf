/**
 * Finding and loading the kubeconfig the way kubectl does (`-k`, else `$KUBECONFIG`, else
 * `~/.kube/config`), with errors that name the file and the context instead of the client
 * library's generic "No active cluster!".
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';

/**
 * The kubeconfig path used when `-k` is not given. `$KUBECONFIG` may list several files (kubectl
 * merges them); this tool reads one, the first that exists, else the first listed.
 */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p.length > 0);
  if (listed.length === 0) return join(home, '.kube', 'config');
  return listed.find((p) => existsSync(p)) ?? (listed[0] as string);
}

/** Loads `file`, selects `context` (else the file's current-context) and checks it names a cluster. */
export function loadKubeConfig(file: string, context?: string): KubeConfig {
  if (!existsSync(file)) {
    throw new ConfigError(file, undefined, 'no kubeconfig file here; pass -k/--kubeconfig or set KUBECONFIG');
  }
  if (!statSync(file).isFile()) throw new ConfigError(file, undefined, 'this is not a kubeconfig file');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (error) {
    // The parser's message may quote file content (tokens, keys), so only its class is kept.
    throw new ConfigError(file, undefined, `is not a valid kubeconfig (${(error as Error).name})`);
  }
  const available = kc.getContexts().map((c) => c.name);
  const wanted = context ?? kc.getCurrentContext();
  if (wanted === undefined || wanted === '') {
    throw new ConfigError(file, undefined, `has no current-context; pass --context (available: ${list(available)})`);
  }
  const ctx = kc.getContextObject(wanted);
  if (ctx === null) {
    throw new ConfigError(file, wanted, `no such context (available: ${list(available)})`);
  }
  kc.setCurrentContext(wanted);
  const cluster = kc.getCluster(ctx.cluster);
  if (cluster === null) throw new ConfigError(file, wanted, `the context's cluster ${JSON.stringify(ctx.cluster)} is not defined`);
  if (cluster.server === undefined || cluster.server === '') {
    throw new ConfigError(file, wanted, `the cluster ${JSON.stringify(ctx.cluster)} has no server address`);
  }
  return kc;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}
