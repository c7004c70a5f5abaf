/**
 * The referrers of a copied manifest (signatures, SBOMs, attestations) go with it. At the source they
 * are found through the OCI 1.1 referrers API where the registry answers it, else through the
 * fallback tag `sha256-<hex>` (an index of the referrers), and cosign's `sha256-<hex>.sig`, `.att` and
 * `.sbom` tags are copied as tags; all of it recursively (a signature of an SBOM), each manifest
 * pushed as fetched, so its `subject` stays intact. A destination with the referrers API indexes
 * what is pushed by itself; for one without it, the fallback tag's index is merged with what is
 * already there (entries are added, never dropped), so signatures pushed there by others survive.
 *
 * The source's tag list (one request per repository and run) says which fallback and cosign tags
 * exist, so an image without referrers costs no request per tag; a registry found without the
 * referrers API is not asked again in the run.
 */
import { RegistryError } from '../registry/registry-error.js';
import { MediaType, type FetchedManifest, type IndexEntry, type Registry, type RepositoryRef } from '../registry/types.js';

/** cosign's tag suffixes: signatures, attestations, SBOMs. */
const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;
/** Referrers of referrers are followed this deep at most (a signature of an SBOM of an image is 2). */
const MAX_DEPTH = 4;

/** Which registries answered the referrers API in this run. */
export class ReferrersApi {
  private readonly missing = new Set<string>();

  /** The referrers of `digest`, or undefined when the registry has no referrers API. */
  public async list(registry: Registry, repo: RepositoryRef, digest: string): Promise<IndexEntry[] | undefined> {
    if (registry.listReferrers === undefined || this.missing.has(repo.registry)) return undefined;
    const entries = await registry.listReferrers(repo, digest);
    if (entries === undefined) this.missing.add(repo.registry);
    return entries;
  }
}

/** What copying referrers needs from the image copier. */
export interface ReferrerCopyContext {
  readonly registry: Registry;
  readonly source: RepositoryRef;
  readonly destination: RepositoryRef;
  readonly api: ReferrersApi;
  /** The source repository's tags, listed once per run; undefined when they cannot be listed. */
  readonly sourceTags: (repo: RepositoryRef) => Promise<ReadonlySet<string> | undefined>;
  /** Copies what a manifest refers to and pushes it under `reference`; returns blob bytes streamed. */
  readonly push: (manifest: FetchedManifest, reference: string) => Promise<number>;
}

/** Referrers found for an image (all of them at the destination afterwards) and bytes streamed. */
export interface ReferrersCopied {
  readonly count: number;
  readonly bytes: number;
}

/** Copies the referrers of `subject` (a digest) and theirs, recursively. */
export async function copyReferrers(ctx: ReferrerCopyContext, subject: string): Promise<ReferrersCopied> {
  const total = { count: 0, bytes: 0 };
  await copyReferrersOf(ctx, subject, 0, new Set(), total);
  return total;
}

async function copyReferrersOf(
  ctx: ReferrerCopyContext,
  subject: string,
  depth: number,
  seen: Set<string>,
  total: { count: number; bytes: number },
): Promise<void> {
  if (depth > MAX_DEPTH || seen.has(subject) || !subject.startsWith('sha256:')) return;
  seen.add(subject);
  const fallbackTag = `sha256-${subject.slice('sha256:'.length)}`;
  const tags = await ctx.sourceTags(ctx.source);
  const exists = async (tag: string): Promise<boolean> =>
    tags !== undefined ? tags.has(tag) : (await ctx.registry.headManifest(ctx.source, tag)) !== undefined;

  let fallbackIndex: FetchedManifest | undefined;
  let entries = await ctx.api.list(ctx.registry, ctx.source, subject);
  if (entries === undefined && (await exists(fallbackTag))) {
    fallbackIndex = await ctx.registry.getManifest(ctx.source, fallbackTag);
    entries = entriesOf(fallbackIndex);
  }
  for (const entry of entries ?? []) {
    if ((await ctx.registry.headManifest(ctx.destination, entry.digest))?.digest !== entry.digest) {
      total.bytes += await ctx.push(await ctx.registry.getManifest(ctx.source, entry.digest), entry.digest);
    }
    total.count += 1;
    await copyReferrersOf(ctx, entry.digest, depth + 1, seen, total);
  }
  if (entries !== undefined && entries.length > 0) await attach(ctx, subject, fallbackTag, entries, fallbackIndex);

  for (const suffix of COSIGN_SUFFIXES) {
    const tag = `${fallbackTag}.${suffix}`;
    if (!(await exists(tag))) continue;
    const manifest = await ctx.registry.getManifest(ctx.source, tag);
    if ((await ctx.registry.headManifest(ctx.destination, tag))?.digest !== manifest.digest) total.bytes += await ctx.push(manifest, tag);
    total.count += 1;
    await copyReferrersOf(ctx, manifest.digest, depth + 1, seen, total);
  }
}

/**
 * Makes the destination list `entries` as referrers of `subject`: nothing to do where it has the
 * referrers API; else its fallback tag index gets every entry it lacks. With no index there yet, the
 * source's fallback index is pushed as fetched (same digest), or a new one is written.
 */
async function attach(
  ctx: ReferrerCopyContext,
  subject: string,
  tag: string,
  entries: readonly IndexEntry[],
  sourceIndex: FetchedManifest | undefined,
): Promise<void> {
  if ((await ctx.api.list(ctx.registry, ctx.destination, subject)) !== undefined) return;
  const existing = await getIfPresent(ctx.registry, ctx.destination, tag);
  if (existing === undefined && sourceIndex !== undefined) {
    await ctx.registry.putManifest(ctx.destination, tag, sourceIndex.mediaType, sourceIndex.bytes);
    return;
  }
  const json =
    existing === undefined
      ? { schemaVersion: 2, mediaType: MediaType.OciIndex }
      : (JSON.parse(existing.bytes.toString('utf8')) as Record<string, unknown>);
  const present = existing === undefined ? [] : entriesOf(existing);
  const known = new Set(present.map((e) => e.digest));
  const added = entries.filter((e) => !known.has(e.digest));
  if (added.length === 0) return;
  const bytes = Buffer.from(JSON.stringify({ ...json, manifests: [...present, ...added] }));
  await ctx.registry.putManifest(ctx.destination, tag, existing?.mediaType ?? MediaType.OciIndex, bytes);
}

async function getIfPresent(registry: Registry, repo: RepositoryRef, reference: string): Promise<FetchedManifest | undefined> {
  try {
    return await registry.getManifest(repo, reference);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}

function entriesOf(index: FetchedManifest): IndexEntry[] {
  const json = JSON.parse(index.bytes.toString('utf8')) as { manifests?: IndexEntry[] | null };
  return (json.manifests ?? []).filter((m) => typeof m?.digest === 'string');
}
