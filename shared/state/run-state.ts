/**
 * What earlier runs learnt, kept for the next one: per source tag, the digest seen there and the digest
 * pushed to each destination tag; per destination registry, which repositories hold which blobs; per
 * registry, how it answered (plain HTTP, its auth challenge: see shared/registry/endpoint-memory.ts).
 *
 * Runs may share one file (two pipelines on one machine, runs at the same time): a run writes what it
 * learnt over what the file holds when it saves, not over what it held when the run began, so that one
 * run never takes back what another recorded meanwhile (see {@link RunState.save}).
 *
 * It is a hint, never trusted over the registries. A destination tag the state says holds the source's
 * digest is confirmed by the destination's tag list and by one HEAD of the source tag (see
 * shared/copy/copy-hints.ts); a blob the state places in another repository is mounted, and the
 * registry's answer decides. A file that cannot be read, is not JSON, is not this tool's state or is
 * of another version is ignored with a warning: the run then works as if it had none.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isSha256Digest } from '../reference.js';
import { sameEndpoint, type EndpointMemory, type RegistryEndpoint } from '../registry/endpoint-memory.js';

/** The marker and version of the file; any other is ignored. */
export const STATE_FORMAT = 'image-migrator/state';
export const STATE_VERSION = 1;
/** Repositories remembered per blob and registry: enough to mount from, without growing the file. */
const REPOSITORIES_PER_BLOB = 4;
/**
 * How long a save waits for another run's save of the same file (a few milliseconds of work), and when
 * a lock is taken to be left by a run that died: it is then removed.
 */
const LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 25;
const STALE_LOCK_MS = 30_000;

/** What a run recorded, replayed over the file as it is at save time. */
type Change =
  | {
      readonly kind: 'copy';
      readonly source: string;
      readonly sourceDigest: string;
      readonly destination: string;
      readonly destinationDigest: string;
    }
  | { readonly kind: 'forget'; readonly source: string }
  | { readonly kind: 'blob'; readonly registry: string; readonly repository: string; readonly digest: string }
  | { readonly kind: 'endpoint'; readonly registry: string; readonly endpoint: RegistryEndpoint };

/** The file: per source tag its digest and the digests pushed per destination; per registry and blob, repositories. */
interface StateFile {
  format: typeof STATE_FORMAT;
  version: number;
  savedAt?: string;
  tags: Record<string, { digest: string; pushed: Record<string, string> }>;
  blobs: Record<string, Record<string, string[]>>;
  /** Absent in files of earlier releases. */
  registries?: Record<string, RegistryEndpoint>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isDigest = (value: unknown): boolean => typeof value === 'string' && isSha256Digest(value);

/**
 * The path of the first value of `json` that does not have the file's shape (`tags.<tag>.digest`...),
 * or undefined. Checked by hand rather than with a zod schema: the file is read before a run's first
 * request, and zod took 0.3-0.6 s over 10,000 tags, this loop a few milliseconds.
 */
function malformedAt(json: Record<string, unknown>): string | undefined {
  if (json.savedAt !== undefined && typeof json.savedAt !== 'string') return 'savedAt';
  if (!isObject(json.tags)) return 'tags';
  for (const [tag, entry] of Object.entries(json.tags)) {
    if (!isObject(entry)) return `tags.${tag}`;
    if (!isDigest(entry.digest)) return `tags.${tag}.digest`;
    if (!isObject(entry.pushed)) return `tags.${tag}.pushed`;
    for (const [destination, digest] of Object.entries(entry.pushed)) if (!isDigest(digest)) return `tags.${tag}.pushed.${destination}`;
  }
  if (!isObject(json.blobs)) return 'blobs';
  for (const [registry, byDigest] of Object.entries(json.blobs)) {
    if (!isObject(byDigest)) return `blobs.${registry}`;
    for (const [digest, repositories] of Object.entries(byDigest)) {
      if (!Array.isArray(repositories) || !repositories.every((r) => typeof r === 'string')) return `blobs.${registry}.${digest}`;
    }
  }
  if (json.registries !== undefined) {
    if (!isObject(json.registries)) return 'registries';
    for (const [registry, endpoint] of Object.entries(json.registries)) if (!isEndpoint(endpoint)) return `registries.${registry}`;
  }
  return undefined;
}

function isEndpoint(value: unknown): value is RegistryEndpoint {
  if (!isObject(value) || (value.plainHttp !== undefined && typeof value.plainHttp !== 'boolean')) return false;
  const auth = value.auth;
  if (auth === undefined) return true;
  if (!isObject(auth)) return false;
  if (auth.kind === 'basic') return true;
  return auth.kind === 'bearer' && typeof auth.realm === 'string' && (auth.service === undefined || typeof auth.service === 'string');
}

/** A tag as the state names it: `registry/repository:tag`. */
export function tagKey(ref: { readonly registry: string; readonly repository: string }, tag: string): string {
  return `${ref.registry}/${ref.repository}:${tag}`;
}

/** The repository (`registry/repository`) and tag of a key made by {@link tagKey}; undefined for any other text. */
export function splitTagKey(key: string): { readonly repository: string; readonly tag: string } | undefined {
  // A registry may carry a port, a repository has no colon, a tag has no slash: the tag follows the last colon.
  const colon = key.lastIndexOf(':');
  if (colon <= 0 || colon === key.length - 1) return undefined;
  const repository = key.slice(0, colon);
  const tag = key.slice(colon + 1);
  return tag.includes('/') || !repository.includes('/') ? undefined : { repository, tag };
}

/** What the state knows of one copy. */
export interface KnownCopy {
  /** Digest last seen at the source tag. */
  readonly sourceDigest: string;
  /** Digest last pushed to (or found at) the destination tag from that source. */
  readonly destinationDigest: string | undefined;
}

/** The port the copier reads and feeds; RunState implements it. */
export interface CopyState {
  known(source: string, destination: string): KnownCopy | undefined;
  recordCopy(source: string, sourceDigest: string, destination: string, destinationDigest: string): void;
  /** Repositories of a registry the state believes hold a blob. */
  blobRepositories(registry: string, digest: string): readonly string[];
  recordBlob(registry: string, repository: string, digest: string): void;
  /** A copy found up to date through what the state knew (a store may renew the record it came from). */
  confirm?(source: string, destination: string): void;
  /** The tags of a source repository (`registry/repository`) the state knows, as they were when first asked. */
  tagsOf?(repository: string): readonly string[];
  /** A source tag the source no longer has: what the state knew of it is dropped. */
  forget?(source: string): void;
}

/** The state of runs, in memory; load and save it with {@link loadRunState} and {@link RunState.save}. */
export class RunState implements CopyState, EndpointMemory {
  /** What this run recorded since the state was loaded or saved, in order. */
  private changes: Change[] = [];
  /** The known tags by source repository, built at the first {@link tagsOf}. */
  private byRepository: Map<string, string[]> | undefined;

  private constructor(private readonly data: StateFile) {}

  /** A state that knows nothing. */
  public static empty(): RunState {
    return new RunState({ format: STATE_FORMAT, version: STATE_VERSION, tags: {}, blobs: {} });
  }

  /** Reads state from JSON text; throws with a reason when the text is not a usable state. */
  public static parse(text: string): RunState {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error('not JSON');
    }
    if (!isObject(json) || json.format !== STATE_FORMAT) throw new Error('not an image-migrator state file');
    if (json.version !== STATE_VERSION)
      throw new Error(`state version ${String(json.version)}, this image-migrator reads version ${STATE_VERSION}`);
    const malformed = malformedAt(json);
    if (malformed !== undefined) throw new Error(`malformed (${malformed})`);
    const { savedAt, tags, blobs, registries } = json as unknown as StateFile;
    return new RunState({
      format: STATE_FORMAT,
      version: STATE_VERSION,
      ...(savedAt === undefined ? {} : { savedAt }),
      tags,
      blobs,
      ...(registries === undefined ? {} : { registries }),
    });
  }

  /** True when something was recorded since it was loaded (or last saved). */
  public get changed(): boolean {
    return this.changes.length > 0;
  }

  /** Number of source tags known. */
  public get size(): number {
    return Object.keys(this.data.tags).length;
  }

  public known(source: string, destination: string): KnownCopy | undefined {
    const entry = Object.hasOwn(this.data.tags, source) ? this.data.tags[source] : undefined;
    if (entry === undefined) return undefined;
    return {
      sourceDigest: entry.digest,
      destinationDigest: Object.hasOwn(entry.pushed, destination) ? entry.pushed[destination] : undefined,
    };
  }

  public tagsOf(repository: string): readonly string[] {
    if (this.byRepository === undefined) {
      this.byRepository = new Map();
      for (const key of Object.keys(this.data.tags)) {
        const split = splitTagKey(key);
        if (split === undefined) continue;
        const tags = this.byRepository.get(split.repository);
        if (tags === undefined) this.byRepository.set(split.repository, [split.tag]);
        else tags.push(split.tag);
      }
    }
    return this.byRepository.get(repository) ?? [];
  }

  public forget(source: string): void {
    if (!Object.hasOwn(this.data.tags, source)) return;
    delete this.data.tags[source];
    this.changes.push({ kind: 'forget', source });
  }

  public recordCopy(source: string, sourceDigest: string, destination: string, destinationDigest: string): void {
    const existing = Object.hasOwn(this.data.tags, source) ? this.data.tags[source] : undefined;
    // A new source digest makes what other destinations hold unknown again.
    const pushed = existing !== undefined && existing.digest === sourceDigest ? existing.pushed : {};
    if (pushed[destination] === destinationDigest && existing?.digest === sourceDigest) return;
    this.data.tags[source] = { digest: sourceDigest, pushed: { ...pushed, [destination]: destinationDigest } };
    this.changes.push({ kind: 'copy', source, sourceDigest, destination, destinationDigest });
  }

  public blobRepositories(registry: string, digest: string): readonly string[] {
    const byDigest = Object.hasOwn(this.data.blobs, registry) ? this.data.blobs[registry] : undefined;
    return byDigest !== undefined && Object.hasOwn(byDigest, digest) ? (byDigest[digest] ?? []) : [];
  }

  public recordBlob(registry: string, repository: string, digest: string): void {
    const byDigest = (this.data.blobs[registry] ??= {});
    const repositories = Object.hasOwn(byDigest, digest) ? (byDigest[digest] ?? []) : [];
    if (repositories.includes(repository)) return;
    // The most recent first; the oldest falls off.
    byDigest[digest] = [repository, ...repositories].slice(0, REPOSITORIES_PER_BLOB);
    this.changes.push({ kind: 'blob', registry, repository, digest });
  }

  public endpoint(registry: string): RegistryEndpoint | undefined {
    const registries = this.data.registries;
    return registries !== undefined && Object.hasOwn(registries, registry) ? registries[registry] : undefined;
  }

  public rememberEndpoint(registry: string, endpoint: RegistryEndpoint): void {
    if (sameEndpoint(this.endpoint(registry), endpoint)) return;
    (this.data.registries ??= {})[registry] = endpoint;
    this.changes.push({ kind: 'endpoint', registry, endpoint });
  }

  /** The JSON text of the state. */
  public serialize(): string {
    return `${JSON.stringify({ ...this.data, savedAt: new Date().toISOString() })}\n`;
  }

  /**
   * Writes what this run recorded into the file at `path` (a symbolic link is followed: the file it
   * names is the one written). Under a lock beside the file (`FILE.lock`), the file is read again and
   * this run's changes are replayed over it, so that what another run saved meanwhile stays, and
   * written atomically: a temporary file beside it, then a rename, so that a reader (or a run that dies
   * half-way) never sees half a file. A file that is no usable state by then is replaced by this run's.
   */
  public async save(path: string): Promise<void> {
    const target = await fileBehind(path);
    await mkdir(dirname(target), { recursive: true });
    const unlock = await lockFile(`${target}.lock`);
    try {
      const current = await readFile(target, 'utf8').catch(() => undefined);
      const text = (current === undefined ? undefined : this.mergedInto(current)) ?? this.serialize();
      const temporary = join(dirname(target), `.${randomBytes(6).toString('hex')}.state.tmp`);
      try {
        await writeFile(temporary, text, { mode: 0o600 });
        await rename(temporary, target);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    } finally {
      await unlock();
    }
    this.changes = [];
  }

  /** The JSON text of the state `text` with this run's changes replayed over it; undefined when `text` is no usable state. */
  private mergedInto(text: string): string | undefined {
    let merged: RunState;
    try {
      merged = RunState.parse(text);
    } catch {
      return undefined;
    }
    for (const change of this.changes) merged.apply(change);
    return merged.serialize();
  }

  private apply(change: Change): void {
    if (change.kind === 'copy') this.recordCopy(change.source, change.sourceDigest, change.destination, change.destinationDigest);
    else if (change.kind === 'forget') this.forget(change.source);
    else if (change.kind === 'blob') this.recordBlob(change.registry, change.repository, change.digest);
    else this.rememberEndpoint(change.registry, change.endpoint);
  }
}

/** The file a path names: itself, or what a symbolic link at it points to (a file it may still have to create). */
async function fileBehind(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // A link to a file not written yet: the file it names, where the link says.
    const link = await readlink(path).catch(() => undefined);
    return link === undefined ? path : resolve(dirname(path), link);
  }
}

/**
 * Takes the lock file `lock` (created exclusively), waiting up to LOCK_WAIT_MS for another run to
 * release it; a lock older than STALE_LOCK_MS, or one still there after the wait, was left by a run
 * that died and is taken over. Returns its release.
 */
async function lockFile(lock: string): Promise<() => Promise<void>> {
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.close();
      return () => rm(lock, { force: true });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    }
    const age = await stat(lock).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > STALE_LOCK_MS || Date.now() >= until) await rm(lock, { force: true });
    else await new Promise((done) => setTimeout(done, LOCK_POLL_MS));
  }
}

/**
 * Loads the state at `path`. Never throws: a missing file is an empty state, and a file that cannot be
 * used is reported through `warn` (with its reason) and replaced by an empty state.
 */
export async function loadRunState(path: string, warn: (message: string) => void): Promise<RunState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT')
      warn(`cannot read the state file ${path} (${(error as Error).message}); running without it, and it will be rewritten after this run`);
    return RunState.empty();
  }
  try {
    return RunState.parse(text);
  } catch (error) {
    warn(`ignoring the state file ${path}: ${(error as Error).message}; it will be rewritten after this run`);
    return RunState.empty();
  }
}

/** The default state file: `$XDG_CACHE_HOME/image-migrator/state.json`, else `~/.cache/image-migrator/state.json`. */
export function defaultStatePath(env: NodeJS.ProcessEnv, home: string): string {
  const cache = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(cache, 'image-migrator', 'state.json');
}
