/**
 * The CredentialSource of a run: login sources asked in order (the first with an entry for the
 * registry wins), then ECR's IAM logins for ECR hosts (and entries with `ecr`) that hold no login,
 * the repository creation a push into ECR needs, and the registry's TLS material. Which source
 * served each registry is reported once; the secret never is.
 */
import type { AuthEntry } from '../config/auth-file.js';
import { ANONYMOUS, type Access, type Credential, type CredentialSource } from '../credentials.js';
import type { EcrAccess, EcrTarget } from './ecr-access.js';
import { ECR_PUBLIC, ECR_PUBLIC_REGION, parseEcrHost } from './ecr-host.js';
import type { LoginMatch, LoginSource } from './login-sources.js';
import type { TlsFilesLoader } from './tls-files.js';

/** Settings of a CredentialChain. */
export interface CredentialChainOptions {
  readonly sources: readonly LoginSource[];
  /** ECR logins and repository creation; without it, ECR hosts are treated like any other. */
  readonly ecr?: EcrAccess | undefined;
  readonly tls?: TlsFilesLoader | undefined;
  /** Told once per registry (and source) which source serves it. */
  readonly onServed?: ((registry: string, via: string) => void) | undefined;
}

/** The ECR API a registry and entry use, or undefined. */
export function ecrTargetOf(registry: string, entry: AuthEntry): EcrTarget | undefined {
  if (entry.username !== undefined || entry.identityToken !== undefined) return undefined;
  const host = parseEcrHost(registry);
  if (entry.ecr?.region !== undefined) return { region: entry.ecr.region, public: false, account: host?.account };
  if (host !== undefined) return { region: host.region, public: false, account: host.account };
  if (registry === ECR_PUBLIC) return { region: ECR_PUBLIC_REGION, public: true };
  if (entry.ecr !== undefined) return { region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1', public: false };
  return undefined;
}

/** A chain of login sources, with ECR and TLS on top. */
export class CredentialChain implements CredentialSource {
  private readonly served = new Set<string>();

  public constructor(private readonly options: CredentialChainOptions) {}

  public async lookup(registry: string, repository: string, access: Access = 'pull'): Promise<Credential> {
    const match = await this.find(registry, repository);
    const entry: AuthEntry = match?.entry ?? ANONYMOUS;
    let via = match?.via ?? 'no entry (anonymous)';
    let credential: Credential = entry;
    const ecr = this.options.ecr === undefined ? undefined : ecrTargetOf(registry, entry);
    // ECR Public serves pulls anonymously; only a push needs its login.
    if (ecr !== undefined && this.options.ecr !== undefined && !(ecr.public && access === 'pull')) {
      const login = await this.options.ecr.login(registry, ecr);
      credential = { ...login, insecure: entry.insecure };
      via = `${ecr.public ? 'ECR Public' : 'ECR'} GetAuthorizationToken in ${ecr.region}${match === undefined ? '' : `, settings from ${match.via}`}`;
      if (access === 'write' && entry.createRepositories !== false) {
        await this.options.ecr.ensureRepository(registry, ecr, repository, entry.createRepositories ?? {});
      }
    }
    const tls = await this.options.tls?.material(registry, entry.tlsFiles, match?.via ?? registry);
    if (tls !== undefined) credential = { ...credential, tls };
    this.report(registry, via);
    return credential;
  }

  public async renew(registry: string, repository: string, refused: Credential): Promise<Credential | undefined> {
    const match = await this.find(registry, repository);
    const entry: AuthEntry = match?.entry ?? ANONYMOUS;
    const ecr = this.options.ecr === undefined ? undefined : ecrTargetOf(registry, entry);
    if (ecr === undefined || this.options.ecr === undefined || refused.password === undefined) return undefined;
    const login = await this.options.ecr.renew(registry, ecr, refused.password);
    return { ...refused, ...login };
  }

  private async find(registry: string, repository: string): Promise<LoginMatch | undefined> {
    for (const source of this.options.sources) {
      const match = await source.find(registry, repository);
      if (match !== undefined) return match;
    }
    return undefined;
  }

  private report(registry: string, via: string): void {
    const key = `${registry} ${via}`;
    if (this.served.has(key)) return;
    this.served.add(key);
    this.options.onServed?.(registry, via);
  }
}
