/**
 * Amazon ECR for tests: a server speaking ECR's JSON 1.1 protocol (GetAuthorizationToken,
 * CreateRepository, DescribeRepositories; the endpoint the SDK reads from AWS_ENDPOINT_URL_ECR), and
 * a registry front in front of a real docker-registry whose htpasswd user is `AWS`. The front acts as
 * ECR's registry does: it takes only unexpired tokens the API issued, answers NAME_UNKNOWN to pushes
 * into repositories that were not created, and refuses to move an existing tag of an IMMUTABLE one.
 * Creating a repository under `denied/` is refused as a missing IAM permission would be.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRegistry, type TestRegistry } from './registries.js';

/** One API call as received. */
export interface EcrCall {
  readonly action: string;
  readonly input: Record<string, unknown>;
  /** The access key id of the SigV4 signature. */
  readonly accessKeyId: string | undefined;
}

/** A running fake. */
export interface EcrFake {
  /** The API endpoint, for AWS_ENDPOINT_URL_ECR. */
  readonly endpoint: string;
  /** "127.0.0.1:PORT" of the registry front: image references and auth.json keys use it. */
  readonly host: string;
  /** The docker-registry behind the front (user AWS), for independent checks. */
  readonly registry: TestRegistry;
  readonly calls: EcrCall[];
  readonly repositories: Map<string, Record<string, unknown>>;
  /** Registry requests the front refused with 401 because their token had expired. */
  readonly expiredRefusals: number;
  /** Lifetime of the tokens issued from now on (default 12 hours). */
  tokenLifetimeMs: number;
  /** After `n` more authorized registry requests, every token issued so far expires. */
  expireTokensAfter(n: number): void;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...headers }).end(JSON.stringify(body));
}

function awsError(res: ServerResponse, type: string, message: string): void {
  json(res, 400, { __type: type, message }, { 'x-amzn-errortype': type });
}

/** Starts the API server, the registry and its front. */
export async function startEcrFake(): Promise<EcrFake> {
  const password = randomBytes(12).toString('base64url');
  const registry = await startRegistry({ auth: 'basic', users: { AWS: password } });
  const upstream = new URL(registry.url);
  const upstreamAuth = `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}`;
  const calls: EcrCall[] = [];
  const repositories = new Map<string, Record<string, unknown>>();
  const tokens = new Map<string, { expiresAt: number }>();
  let expireAfter: number | undefined;
  let expiredRefusals = 0;
  let frontHost = '';

  const api = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const action = String(req.headers['x-amz-target'] ?? '').replace(TARGET_PREFIX, '');
      const input = (body.length > 0 ? JSON.parse(body.toString('utf8')) : {}) as Record<string, unknown>;
      const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
      calls.push({ action, input, accessKeyId });
      if (action === 'GetAuthorizationToken') {
        const token = randomBytes(24).toString('base64url');
        const expiresAt = Date.now() + fake.tokenLifetimeMs;
        tokens.set(token, { expiresAt });
        json(res, 200, {
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${token}`).toString('base64'),
              expiresAt: expiresAt / 1000,
              proxyEndpoint: `https://${frontHost}`,
            },
          ],
        });
      } else if (action === 'DescribeRepositories') {
        const names = (input.repositoryNames as string[] | undefined) ?? [...repositories.keys()];
        const missing = names.find((name) => !repositories.has(name));
        if (missing !== undefined) {
          awsError(
            res,
            'RepositoryNotFoundException',
            `The repository with name '${missing}' does not exist in the registry with id '123456789012'`,
          );
          return;
        }
        json(res, 200, { repositories: names.map((name) => ({ repositoryName: name, ...repositories.get(name) })) });
      } else if (action === 'CreateRepository') {
        const name = String(input.repositoryName);
        if (name.startsWith('denied/')) {
          json(res, 400, {
            __type: 'AccessDeniedException',
            message: `User: arn:aws:iam::123456789012:user/mirror is not authorized to perform: ecr:CreateRepository on resource: ${name}`,
          });
          return;
        }
        if (repositories.has(name)) {
          awsError(
            res,
            'RepositoryAlreadyExistsException',
            `The repository with name '${name}' already exists in the registry with id '123456789012'`,
          );
          return;
        }
        repositories.set(name, input);
        json(res, 200, {
          repository: {
            repositoryName: name,
            repositoryUri: `${frontHost}/${name}`,
            imageTagMutability: input.imageTagMutability ?? 'MUTABLE',
          },
        });
      } else {
        awsError(res, 'InvalidParameterException', `unknown action ${action}`);
      }
    })().catch(() => res.destroy());
  });
  const apiPort = await listen(api);

  const registryError = (
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    res
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
      .end(JSON.stringify({ errors: [{ code, message }] }));
  };

  const front = createServer((req, res) => {
    void (async () => {
      const path = req.url ?? '/';
      const method = req.method ?? 'GET';
      const basic = /^Basic (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      const [user, token] = basic === undefined ? [] : Buffer.from(basic, 'base64').toString('utf8').split(':');
      const issued = token === undefined ? undefined : tokens.get(token);
      if (user !== 'AWS' || issued === undefined || issued.expiresAt <= Date.now()) {
        if (issued !== undefined) expiredRefusals++;
        registryError(res, 401, 'DENIED', 'Your authorization token has expired. Reauthenticate and try again.', {
          'www-authenticate': `Basic realm="https://${frontHost}/",service="ecr.amazonaws.com"`,
        });
        return;
      }
      if (expireAfter !== undefined && --expireAfter <= 0) {
        expireAfter = undefined;
        for (const entry of tokens.values()) entry.expiresAt = 0;
      }
      const name = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(path)?.[1];
      const writes = method === 'POST' || method === 'PUT' || method === 'PATCH';
      if (name !== undefined && writes && !repositories.has(name)) {
        registryError(res, 404, 'NAME_UNKNOWN', `The repository with name '${name}' does not exist in the registry with id '123456789012'`);
        await readAll(req);
        return;
      }
      const tag = /\/manifests\/([^/?]+)$/.exec(path)?.[1];
      if (
        name !== undefined &&
        method === 'PUT' &&
        tag !== undefined &&
        !tag.startsWith('sha256:') &&
        repositories.get(name)?.imageTagMutability === 'IMMUTABLE'
      ) {
        const exists = await new Promise<boolean>((resolve) => {
          const head = request(
            new URL(path, upstream),
            {
              method: 'HEAD',
              headers: {
                authorization: upstreamAuth,
                accept:
                  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
              },
            },
            (r) => {
              r.resume();
              resolve(r.statusCode === 200);
            },
          );
          head.on('error', () => resolve(false));
          head.end();
        });
        if (exists) {
          await readAll(req);
          registryError(
            res,
            400,
            'TAG_INVALID',
            `The image tag '${tag}' already exists in the '${name}' repository and cannot be overwritten because the repository is immutable.`,
          );
          return;
        }
      }
      // The registry builds its absolute Location URLs from Host: they keep pointing at this front.
      const proxied = request(new URL(path, upstream), { method, headers: { ...req.headers, authorization: upstreamAuth } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      proxied.on('error', () => res.destroy());
      req.pipe(proxied);
    })().catch(() => res.destroy());
  });
  const frontPort = await listen(front);
  frontHost = `127.0.0.1:${frontPort}`;

  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const fake: EcrFake = {
    endpoint: `http://127.0.0.1:${apiPort}`,
    host: frontHost,
    registry,
    calls,
    repositories,
    get expiredRefusals() {
      return expiredRefusals;
    },
    tokenLifetimeMs: 12 * 3600_000,
    expireTokensAfter: (n) => {
      expireAfter = n;
    },
    stop: async () => {
      await Promise.all([close(api), close(front)]);
      await registry.stop();
    },
  };
  return fake;
}
