/**
 * Amazon ECR through the AWS SDK: registry logins from GetAuthorizationToken (the default credential
 * chain: a profile locally, the function's role on Lambda), cached until shortly before they expire
 * and replaced when a registry refuses one; and repositories created when a push needs them, once
 * per repository per run, with the settings of the registry's auth.json entry. ECR Public uses its
 * own API (`@aws-sdk/client-ecr-public`, region us-east-1) the same way. The SDK is loaded on first
 * use: a run that meets no ECR registry does not pay for it.
 */
import type { CreateRepositoryCommandInput, ECRClient } from '@aws-sdk/client-ecr';
import type { ECRPUBLICClient } from '@aws-sdk/client-ecr-public';
import type { CreateRepositories } from '../config/auth-file.js';
import { ImageMigratorError } from '../errors.js';
import { ECR_PUBLIC_REGION } from './ecr-host.js';

/** Which ECR API a registry is reached through. */
export interface EcrTarget {
  readonly region: string;
  readonly public: boolean;
  /** The registry's account when its host names one (repositories are created there). */
  readonly account?: string | undefined;
}

/** An ECR call that failed; `retryable` for throttling and service trouble. */
export class EcrError extends ImageMigratorError {
  public constructor(
    message: string,
    public readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The clients; injectable so tests can count calls. */
export interface EcrClients {
  private(region: string): Promise<ECRClient>;
  public(): Promise<ECRPUBLICClient>;
}

const ecrSdk = () => import('@aws-sdk/client-ecr');
const ecrPublicSdk = () => import('@aws-sdk/client-ecr-public');

/** Settings of EcrAccess. */
export interface EcrAccessOptions {
  readonly clients?: EcrClients;
  readonly now?: () => number;
  /** Told about every repository created. */
  readonly onCreated?: (registry: string, repository: string) => void;
}

interface Login {
  readonly username: string;
  readonly password: string;
  readonly refreshAt: number;
}

/** How long before its expiry a token is replaced: 5 minutes, or a fifth of a shorter lifetime. */
export function refreshAt(fetchedAt: number, expiresAt: number): number {
  return expiresAt - Math.min(300_000, Math.max(0, expiresAt - fetchedAt) / 5);
}

/** Default clients: one per region, the SDK's default credential chain and endpoint settings. */
export function defaultEcrClients(): EcrClients {
  const regional = new Map<string, ECRClient>();
  let publicClient: ECRPUBLICClient | undefined;
  return {
    private: async (region) => {
      let client = regional.get(region);
      if (client === undefined) regional.set(region, (client = new (await ecrSdk()).ECRClient({ region, maxAttempts: 5 })));
      return client;
    },
    public: async () => (publicClient ??= new (await ecrPublicSdk()).ECRPUBLICClient({ region: ECR_PUBLIC_REGION, maxAttempts: 5 })),
  };
}

/** Logins and repository creation for ECR registries. */
export class EcrAccess {
  private readonly clients: EcrClients;
  private readonly now: () => number;
  private readonly logins = new Map<string, Promise<Login>>();
  /** The login each fetch in `logins` gave, once it has settled. */
  private readonly settled = new WeakMap<Promise<Login>, Login>();
  private readonly repositories = new Map<string, Promise<void>>();

  public constructor(private readonly options: EcrAccessOptions = {}) {
    this.clients = options.clients ?? defaultEcrClients();
    this.now = options.now ?? Date.now;
  }

  /** A login for the registry, fetched when none is cached or the cached one is about to expire. */
  public async login(registry: string, target: EcrTarget): Promise<{ username: string; password: string }> {
    const key = loginKey(registry, target);
    const cached = this.logins.get(key);
    const known = cached === undefined ? undefined : this.settled.get(cached);
    // A fetch in flight is shared; a settled login is used until its refresh time.
    const pending = cached !== undefined && (known === undefined || this.now() < known.refreshAt) ? cached : this.fetch(key, target);
    const { username, password } = await pending;
    return { username, password };
  }

  /** The registry refused `password`: a new login, unless another request already replaced it. */
  public async renew(registry: string, target: EcrTarget, password: string): Promise<{ username: string; password: string }> {
    const key = loginKey(registry, target);
    const cached = this.logins.get(key);
    const known = cached === undefined ? undefined : this.settled.get(cached);
    const pending = cached !== undefined && (known === undefined || known.password !== password) ? cached : this.fetch(key, target);
    const login = await pending;
    return { username: login.username, password: login.password };
  }

  private fetch(key: string, target: EcrTarget): Promise<Login> {
    const fetching = this.fetchLogin(target);
    this.logins.set(key, fetching);
    fetching.then(
      (login) => this.settled.set(fetching, login),
      // A failure is not cached: the next request asks again.
      () => {
        if (this.logins.get(key) === fetching) this.logins.delete(key);
      },
    );
    return fetching;
  }

  /** Makes sure the repository exists before a push; once per repository per run. */
  public ensureRepository(registry: string, target: EcrTarget, repository: string, settings: CreateRepositories): Promise<void> {
    const key = `${registry}/${repository}`;
    let pending = this.repositories.get(key);
    if (pending === undefined) {
      pending = this.createIfMissing(registry, target, repository, settings);
      this.repositories.set(key, pending);
      // A failure is not remembered: the task's next attempt asks again.
      pending.catch(() => this.repositories.delete(key));
    }
    return pending;
  }

  private async fetchLogin(target: EcrTarget): Promise<Login> {
    const fetchedAt = this.now();
    const data = target.public
      ? (
          await this.call(target, 'GetAuthorizationToken', async () =>
            (await this.clients.public()).send(new (await ecrPublicSdk()).GetAuthorizationTokenCommand({})),
          )
        ).authorizationData
      : (
          await this.call(target, 'GetAuthorizationToken', async () =>
            (await this.clients.private(target.region)).send(new (await ecrSdk()).GetAuthorizationTokenCommand({})),
          )
        ).authorizationData?.[0];
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new EcrError(`${apiName(target)} GetAuthorizationToken in ${target.region} returned no usable token`, false);
    const expiresAt = data?.expiresAt?.getTime() ?? fetchedAt + 12 * 3600_000;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), refreshAt: refreshAt(fetchedAt, expiresAt) };
  }

  private async createIfMissing(registry: string, target: EcrTarget, repository: string, settings: CreateRepositories): Promise<void> {
    const registryId = target.account;
    try {
      const input = { repositoryNames: [repository], ...(registryId ? { registryId } : {}) };
      if (target.public) await (await this.clients.public()).send(new (await ecrPublicSdk()).DescribeRepositoriesCommand(input));
      else await (await this.clients.private(target.region)).send(new (await ecrSdk()).DescribeRepositoriesCommand(input));
      return;
    } catch (error) {
      // Without permission to look, try to create; any other answer than "not found" is the push's problem.
      const name = (error as { name?: string }).name;
      if (name !== 'RepositoryNotFoundException' && name !== 'AccessDeniedException') return;
    }
    const tags = Object.entries(settings.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    try {
      if (target.public) {
        await (
          await this.clients.public()
        ).send(new (await ecrPublicSdk()).CreateRepositoryCommand({ repositoryName: repository, ...(tags.length > 0 ? { tags } : {}) }));
      } else {
        const input: CreateRepositoryCommandInput = {
          repositoryName: repository,
          ...(registryId ? { registryId } : {}),
          imageTagMutability: settings.imageTagMutability ?? 'MUTABLE',
          imageScanningConfiguration: { scanOnPush: settings.scanOnPush ?? false },
          ...(settings.encryption?.kms === undefined
            ? {}
            : { encryptionConfiguration: { encryptionType: 'KMS', kmsKey: settings.encryption.kms } }),
          ...(tags.length > 0 ? { tags } : {}),
        };
        await (await this.clients.private(target.region)).send(new (await ecrSdk()).CreateRepositoryCommand(input));
      }
    } catch (error) {
      if ((error as { name?: string }).name === 'RepositoryAlreadyExistsException') return;
      throw ecrError(target, `CreateRepository ${repository} on ${registry}`, error);
    }
    this.options.onCreated?.(registry, repository);
  }

  private async call<T>(target: EcrTarget, what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw ecrError(target, `${what} in ${target.region}`, error);
    }
  }
}

function loginKey(registry: string, target: EcrTarget): string {
  return `${target.public ? 'public' : target.region} ${registry}`;
}

function apiName(target: EcrTarget): string {
  return target.public ? 'ECR Public' : 'ECR';
}

const TRANSIENT = new Set([
  'ThrottlingException',
  'ServerException',
  'TooManyRequestsException',
  'LimitExceededException',
  'TimeoutError',
  'RequestTimeout',
]);

/** The SDK's error as an EcrError: its name and message (they hold no secret), never the request. */
function ecrError(target: EcrTarget, what: string, error: unknown): EcrError {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const status = e.$metadata?.httpStatusCode;
  const retryable =
    TRANSIENT.has(e.name ?? '') || (status !== undefined && status >= 500) || (status === undefined && e.code !== undefined);
  const hint =
    e.name === 'CredentialsProviderError'
      ? ' (no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or log in with "aws sso login")'
      : '';
  return new EcrError(`${apiName(target)} ${what} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}${hint}`, retryable, {
    cause: error,
  });
}
