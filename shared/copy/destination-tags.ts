/**
 * The tags a destination repository already has, listed once per run while the source is listed.
 * A tag the list does not name needs no destination HEAD before it is copied: a first migration
 * into an empty registry saves one request per tag. The listing is also the run's first request to
 * the destination, so its auth challenge and token are dealt with before any copy needs them.
 *
 * A repository the listing finds missing (NAME_UNKNOWN) holds no blob either, as far as this run
 * knows: its copies upload without asking first (see copy-blob.ts).
 *
 * The list only ever saves a HEAD. A tag pushed after the listing is copied again (its blobs are
 * found and skipped); a tag listed but gone is found missing by the HEAD. A listing that fails for
 * another reason is told to `onUnlisted` (the log says so), and each tag is then asked for by HEAD.
 */
import { RegistryError } from '../registry/registry-error.js';
import type { Registry, RepositoryRef } from '../registry/types.js';

const keyOf = (repo: RepositoryRef): string => `${repo.registry}/${repo.repository}`;

/** Destination tag lists of one run, fetched in the background. */
export class DestinationTags {
  private readonly lists = new Map<string, Promise<ReadonlySet<string> | undefined>>();
  /** Repositories whose listing answered NAME_UNKNOWN. */
  private readonly missing = new Set<string>();

  public constructor(
    private readonly registry: Pick<Registry, 'listTags'>,
    private readonly onUnlisted?: (repo: RepositoryRef, error: unknown) => void,
  ) {}

  /** Starts listing a destination repository's tags, once per repository. */
  public prefetch(repo: RepositoryRef): void {
    const key = keyOf(repo);
    if (this.lists.has(key)) return;
    this.lists.set(key, this.list(repo));
  }

  /**
   * The repository's tags, or undefined when they are not known (never listed, or the listing was
   * refused): then the destination must be asked tag by tag.
   */
  public tags(repo: RepositoryRef): Promise<ReadonlySet<string> | undefined> {
    return this.lists.get(keyOf(repo)) ?? Promise.resolve(undefined);
  }

  /** True when the repository's listing found it missing when the run began (false when not listed). */
  public async absent(repo: RepositoryRef): Promise<boolean> {
    await this.tags(repo);
    return this.missing.has(keyOf(repo));
  }

  private async list(repo: RepositoryRef): Promise<ReadonlySet<string> | undefined> {
    try {
      return new Set(await this.registry.listTags(repo));
    } catch (error) {
      // A repository that does not exist yet has no tags; any other failure (a login that may push
      // but not list, a registry without the tag list API) leaves the per-tag HEADs to decide.
      if (error instanceof RegistryError && error.status === 404 && error.hasCode('NAME_UNKNOWN')) {
        this.missing.add(keyOf(repo));
        return new Set();
      }
      this.onUnlisted?.(repo, error);
      return undefined;
    }
  }
}
