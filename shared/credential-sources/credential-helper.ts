/**
 * Docker credential helpers: `docker-credential-NAME get` with the registry on stdin answers
 * `{"ServerURL", "Username", "Secret"}` on stdout, or "credentials not found" and a non-zero exit.
 * Each call is bounded by a timeout; errors name the helper and the registry, never the output.
 */
import { spawn } from 'node:child_process';
import { ImageMigratorError } from '../errors.js';
import type { DockerLogin } from '../config/docker-config.js';

/** A helper that could not give a login (not installed, failed, timed out, answered nonsense). */
export class CredentialHelperError extends ImageMigratorError {}

/** How long a helper may take: some ask a keychain or the network (ECR, gcloud). */
export const HELPER_TIMEOUT_MS = 30_000;
const OUTPUT_LIMIT = 1024 * 1024;

/** Runs helpers; `env` is the helpers' environment (its PATH finds them). */
export type HelperRunner = (helper: string, serverUrl: string) => Promise<DockerLogin | undefined>;

/** The server URL Docker hands helpers: Docker Hub's historical index URL, else the host. */
export function helperServerUrl(registry: string): string {
  return registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
}

/** A runner of `docker-credential-NAME get` processes. */
export function credentialHelperRunner(options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): HelperRunner {
  const timeoutMs = options.timeoutMs ?? HELPER_TIMEOUT_MS;
  return (helper, serverUrl) =>
    new Promise((resolve, reject) => {
      const program = `docker-credential-${helper}`;
      const fail = (problem: string, cause?: unknown): void =>
        reject(
          new CredentialHelperError(
            `credential helper ${program} for ${serverUrl}: ${problem}`,
            cause === undefined ? undefined : { cause },
          ),
        );
      const child = spawn(program, ['get'], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        fail(`no answer within ${timeoutMs} ms`);
      }, timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(0, OUTPUT_LIMIT)));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(0, 4096)));
      child.stdin.on('error', () => undefined);
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fail(error.code === 'ENOENT' ? 'not found on PATH' : `cannot be run (${error.code ?? error.message})`, error);
      });
      child.once('close', (code) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // The protocol's "not found" answer goes to stdout; helpers differ on which stream they use.
        if (code !== 0) {
          if (/credentials not found/i.test(stdout + stderr)) resolve(undefined);
          else fail(`exit code ${code}${firstLine(stderr)}`);
          return;
        }
        let parsed: { Username?: unknown; Secret?: unknown };
        try {
          parsed = JSON.parse(stdout) as typeof parsed;
        } catch {
          fail('the answer is not JSON');
          return;
        }
        if (typeof parsed.Secret !== 'string' || parsed.Secret.length === 0) resolve(undefined);
        else if (parsed.Username === '<token>') resolve({ identityToken: parsed.Secret });
        else if (typeof parsed.Username !== 'string' || parsed.Username.length === 0) fail('the answer has no Username');
        else resolve({ username: parsed.Username, password: parsed.Secret });
      });
      child.stdin.end(serverUrl);
    });
}

/** The first line of a helper's stderr, short: it explains the failure and holds no login. */
function firstLine(stderr: string): string {
  const line = stderr.trim().split('\n')[0]?.trim() ?? '';
  return line.length === 0 ? '' : `: ${line.slice(0, 200)}`;
}
