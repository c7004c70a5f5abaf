/**
 * What this run has already put where. It lets the copier skip a blob it pushed to a repository
 * before, mount one it pushed to another repository of the same registry, and wait for a transfer in
 * flight instead of starting a second one: each blob crosses the network at most once per
 * destination registry in a run.
 */

/** Per-run memory of blobs known to be present at destinations. */
export class BlobTracker {
  /** registry -> digest -> repositories known to hold it */
  private readonly present = new Map<string, Map<string, Set<string>>>();
  /** `${registry} ${digest}` -> the transfer that will put it there */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /** True when the blob is known to be in this repository. */
  public has(registry: string, repository: string, digest: string): boolean {
    return this.present.get(registry)?.get(digest)?.has(repository) ?? false;
  }

  /** A repository of the registry known to hold the blob, to mount from. */
  public repositoryWith(registry: string, digest: string): string | undefined {
    const repos = this.present.get(registry)?.get(digest);
    return repos === undefined ? undefined : repos.values().next().value;
  }

  /** Records that the blob is in the repository. */
  public add(registry: string, repository: string, digest: string): void {
    let byDigest = this.present.get(registry);
    if (byDigest === undefined) this.present.set(registry, (byDigest = new Map()));
    let repos = byDigest.get(digest);
    if (repos === undefined) byDigest.set(digest, (repos = new Set()));
    repos.add(repository);
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
}
