/**
 * A small token server in the style of Docker Hub's: `GET realm?service=S&scope=A&scope=B` with optional
 * Basic credentials answers a JWT granting only the actions the ACL allows.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createSigningIdentity, signJwt, type SigningIdentity } from './jwt.js';

/** Who may do what on a repository; `user` is undefined for anonymous requests. */
export type Acl = (user: string | undefined, repository: string, action: 'pull' | 'push') => boolean;

/** A running token server. */
export interface TokenServer {
  /** Base URL, e.g. "http://127.0.0.1:PORT". */
  readonly url: string;
  /** The token endpoint the registry names in its `WWW-Authenticate` challenge. */
  readonly realm: string;
  /** The `service` (JWT `aud`) the registry expects. */
  readonly service: string;
  /** HTTP token requests answered (including refused ones); `mint` does not count. */
  requests: number;
  /** scopes requested over HTTP, in order */
  readonly scopes: string[];
  /** PEM certificate the registry trusts (`rootcertbundle`). */
  readonly certificatePem: string;
  /** The JWT `iss` the registry expects. */
  readonly issuer: string;
  /**
   * Issues a token in-process, without HTTP and without counting it, for test seeding; grants like the
   * HTTP endpoint would for an already authenticated `user`.
   */
  mint(user: string | undefined, scopes: readonly string[]): string;
  stop(): Promise<void>;
}

/** Options of {@link startTokenServer}. */
export interface StartTokenServerOptions {
  /** username -> password accepted in Basic credentials */
  users: Record<string, string>;
  /** token lifetime in seconds (default 300) */
  ttlSeconds?: number;
  /** default: users pull and push everywhere, anonymous pulls everywhere */
  acl?: Acl;
  /** refuse (400) a request with more scopes than this; default: no limit */
  maxScopes?: number | undefined;
  /** the `service` it issues tokens for (Docker Hub's is registry.docker.io) */
  service?: string | undefined;
}

/** The default ACL: authenticated users may pull and push everywhere, anonymous requests may pull. */
export const defaultAcl: Acl = (user, _repository, action) => user !== undefined || action === 'pull';

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** `repository:name:pull,push`; the name may itself hold colons only in exotic types, so split at both ends. */
function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

function grant(acl: Acl, user: string | undefined, access: Access): Access {
  if (access.type !== 'repository') {
    return { ...access, actions: user === undefined ? [] : access.actions };
  }
  // Anything beyond pull ("push", "delete", "*") is a write: allowed only with push rights.
  const actions = access.actions.filter((action) => acl(user, access.name, action === 'pull' ? 'pull' : 'push'));
  return { ...access, actions };
}

/** Parses Basic credentials: undefined when absent, null when malformed or wrong. */
function authenticate(req: IncomingMessage, users: Record<string, string>): string | undefined | null {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match === null) return null;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return Object.hasOwn(users, user) && users[user] === password ? user : null;
}

/** Starts a token server on 127.0.0.1 with a fresh signing certificate. */
export async function startTokenServer(options: StartTokenServerOptions): Promise<TokenServer> {
  const identity: SigningIdentity = await createSigningIdentity('image-migrator-test-token-issuer');
  const ttl = options.ttlSeconds ?? 300;
  const acl = options.acl ?? defaultAcl;
  const issuer = 'image-migrator-test-token-issuer';
  const service = options.service ?? 'image-migrator-test-registry';

  const issue = (user: string | undefined, scopes: readonly string[]): { token: string; issuedAt: Date } => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes
      .map(parseScope)
      .filter((a): a is Access => a !== undefined)
      .map((a) => grant(acl, user, a));
    const token = signJwt(identity, {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: now + ttl,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    });
    return { token, issuedAt: new Date(now * 1000) };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    server.state.requests += 1;
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    server.state.scopes.push(...scopes);
    const user = authenticate(req, options.users);
    if (user === null) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'incorrect username or password' }));
      return;
    }
    if (options.maxScopes !== undefined && scopes.length > options.maxScopes) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: `at most ${options.maxScopes} scopes per token` }));
      return;
    }
    if (url.searchParams.get('service') !== service) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'unknown service' }));
      return;
    }
    const { token, issuedAt } = issue(user, scopes);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: issuedAt.toISOString() }));
  };

  const server = { state: { requests: 0, scopes: [] as string[] }, http: createServer((req, res) => handle(req, res)) };
  await new Promise<void>((resolve, reject) => {
    server.http.once('error', reject);
    server.http.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certificatePem: identity.certificatePem,
    get requests() {
      return server.state.requests;
    },
    set requests(value: number) {
      server.state.requests = value;
    },
    scopes: server.state.scopes,
    mint: (user, scopes) => issue(user, scopes).token,
    stop: () =>
      new Promise<void>((resolve) => {
        server.http.closeAllConnections();
        server.http.close(() => resolve());
      }),
  };
}
