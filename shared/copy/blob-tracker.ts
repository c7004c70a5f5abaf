/**
 * What this run has already put where. It lets the copier skip a blob it pushed to a repository
 * before, mount one it pushed to another repository of the same registry, and wait for a transfer in
 * flight instead of starting a second one: each blob crosses the network at most once per
 * destination registry in a run.
 *
 * With a run state, what earlier runs put where is offered as somewhere to mount from: the registry's
 * answer to the mount decides, so a wrong state costs a request, never a missing blob.
 */
import type { CopyState } from '../state/run-state.js';
import type { BlobClaim, BlobCoordinator } from './blob-coordinator.js';

const GRANTED: BlobClaim = { kind: 'claimed', settle: async () => undefined };

/**
 * Per-run memory of blobs known to be present at destinations; also the local BlobCoordinator, which
 * grants every claim: in one process, `track` already lets one transfer run per blob and registry.
 */
export class BlobTracker implements BlobCoordinator {
  /** registry -> digest -> repositories known to hold it */
  private readonly present = new Map<string, Map<string, Set<string>>>();
  /** `${registry} ${digest}` -> the transfer that will put it there */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  public constructor(private readonly state?: Pick<CopyState, 'blobRepositories' | 'recordBlob'>) {}

  /** True when the blob is known to be in this repository. */
  public has(registry: string, repository: string, digest: string): boolean {
    return this.present.get(registry)?.get(digest)?.has(repository) ?? false;
  }

  /**
   * A repository of the registry known (this run) or believed (the run state) to hold the blob, to
   * mount from; never `except`, the repository the blob is wanted in.
   */
  public repositoryWith(registry: string, digest: string, except?: string): string | undefined {
    const repos = this.present.get(registry)?.get(digest);
    const known = repos === undefined ? undefined : [...repos].find((r) => r !== except);
    return known ?? this.state?.blobRepositories(registry, digest).find((r) => r !== except);
  }

  /** True when the run state believes the blob is in this repository (an earlier run put it there). */
  public believed(registry: string, repository: string, digest: string): boolean {
    return this.state?.blobRepositories(registry, digest).includes(repository) ?? false;
  }

  /** Records that the blob is in the repository. */
  public add(registry: string, repository: string, digest: string): void {
    let byDigest = this.present.get(registry);
    if (byDigest === undefined) this.present.set(registry, (byDigest = new Map<string, Set<string>>()));
    let repos = byDigest.get(digest);
    if (repos === undefined) byDigest.set(digest, (repos = new Set()));
    repos.add(repository);
    this.state?.recordBlob(registry, repository, digest);
  }

  /** Forgets what is known of one repository (the registry said something it was thought to hold is missing). */
  public forget(registry: string, repository: string): void {
    for (const repos of this.present.get(registry)?.values() ?? []) repos.delete(repository);
  }

  /** The transfer of this blob to this registry that is under way, if any. */
  public pending(registry: string, digest: string): Promise<unknown> | undefined {
    return this.inFlight.get(`${registry} ${digest}`);
  }

  /** Runs a transfer, letting others wait on it while it runs. */
  public async track<T>(registry: string, digest: string, transfer: () => Promise<T>): Promise<T> {
    const key = `${registry} ${digest}`;
    const promise = transfer();
    this.inFlight.set(key, promise);
    try {
      return await promise;
    } finally {
      if (this.inFlight.get(key) === promise) this.inFlight.delete(key);
    }
  }

  /** Every claim is granted (see the class comment). */
  public async claim(): Promise<BlobClaim> {
    return GRANTED;
  }
}
