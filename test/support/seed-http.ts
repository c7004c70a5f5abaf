/**
 * The raw HTTP used by seeding: global fetch (undici) plus just enough auth, written independently of
 * shared/registry so that tests check the project's client against a second implementation.
 */
import { HarnessError } from './harness-error.js';
import type { TokenServer } from './token-server.js';

/** Where to seed: a TestRegistry fits, and so does `{ url: proxy.url, ...credentials }`. */
export interface SeedTarget {
  url: string;
  username?: string;
  password?: string;
  /** when set, tokens are minted in-process so seeding does not show in `requests`/`scopes` */
  tokenServer?: TokenServer;
}

/** Accept header for manifest reads: every type this project copies. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function basic(t: SeedTarget): string | undefined {
  if (t.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${t.username}:${t.password ?? ''}`).toString('base64')}`;
}

/** Parses `Bearer realm="..",service="..",scope=".."` (values may contain commas inside quotes). */
function parseChallenge(header: string): Record<string, string> | undefined {
  if (!/^Bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1] ?? ''] = m[2] ?? '';
  return params;
}

async function tokenFromChallenge(t: SeedTarget, challenge: Record<string, string>): Promise<string> {
  const url = new URL(challenge.realm ?? '');
  if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
  if (challenge.scope !== undefined) url.searchParams.set('scope', challenge.scope);
  const auth = basic(t);
  const response = await fetch(url, { headers: auth === undefined ? {} : { authorization: auth } });
  if (!response.ok) throw new HarnessError(`token request to ${url.origin}${url.pathname} answered ${response.status}`);
  const body = (await response.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (token === undefined) throw new HarnessError('token response without a token');
  return token;
}

/** Request options for {@link seedFetch}. */
export interface SeedRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

/**
 * Sends one request for `repository` with credentials: Basic, a minted token, or (when no token server
 * is known) the standard challenge flow. `pathOrUrl` is a path under t.url or an absolute upload URL.
 */
export async function seedFetch(t: SeedTarget, repository: string, pathOrUrl: string, request: SeedRequest = {}): Promise<Response> {
  const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${t.url}${pathOrUrl}`;
  const send = (authorization: string | undefined): Promise<Response> =>
    fetch(url, {
      method: request.method ?? 'GET',
      headers: { ...request.headers, ...(authorization === undefined ? {} : { authorization }) },
      body: request.body,
      redirect: 'follow',
    });
  if (t.tokenServer !== undefined) {
    return send(`Bearer ${t.tokenServer.mint(t.username, [`repository:${repository}:pull,push`])}`);
  }
  const first = await send(basic(t));
  const challenge = first.status === 401 ? parseChallenge(first.headers.get('www-authenticate') ?? '') : undefined;
  if (challenge === undefined) return first;
  await first.arrayBuffer();
  return send(`Bearer ${await tokenFromChallenge(t, challenge)}`);
}

/** Throws a HarnessError naming the request and the registry's answer (no credentials). */
export async function expectStatus(response: Response, expected: number[], what: string): Promise<void> {
  if (expected.includes(response.status)) return;
  const text = (await response.text()).slice(0, 500);
  throw new HarnessError(`${what}: expected HTTP ${expected.join('/')}, got ${response.status}: ${text}`);
}
