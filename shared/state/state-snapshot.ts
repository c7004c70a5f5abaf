/**
 * The part of a run state that a store outside the process (the run table on AWS) has handed to one
 * task or expansion: the copies it recorded for some tags, as a CopyState that the copier and the
 * hint check (shared/copy/copy-hints.ts) read exactly as they read the local state file. What the copy
 * records on top is kept apart, so that the store writes back only what changed.
 *
 * Blobs are not part of it: on AWS the table's blob claims already say which repository of a
 * destination registry holds a blob (see functions/adapters/dynamo-blob-claims.ts).
 */
import type { CopyState, KnownCopy } from './run-state.js';

/** One copy as a store keeps it: a source tag, a destination tag (`registry/repository:tag` each) and their digests. */
export interface CopyRecord {
  readonly source: string;
  readonly destination: string;
  /** Digest seen at the source tag. */
  readonly sourceDigest: string;
  /** Digest pushed to (or found at) the destination tag. */
  readonly destinationDigest: string;
}

/** A loaded record, and whether the store wants it written again when a run confirms it (it is getting old). */
export interface LoadedRecord extends CopyRecord {
  readonly renew?: boolean;
}

const keyOf = (source: string, destination: string): string => `${source} ${destination}`;

/** Copies known from a store, and those recorded since; see the module comment. */
export class StateSnapshot implements CopyState {
  private readonly records = new Map<string, LoadedRecord>();
  private readonly recorded = new Map<string, CopyRecord>();

  public constructor(records: Iterable<LoadedRecord> = []) {
    for (const record of records) this.add(record);
  }

  /** Adds a record read from the store (the last one of a pair wins). */
  public add(record: LoadedRecord): void {
    this.records.set(keyOf(record.source, record.destination), record);
  }

  /** Records known from the store. */
  public get size(): number {
    return this.records.size;
  }

  public known(source: string, destination: string): KnownCopy | undefined {
    const record = this.records.get(keyOf(source, destination));
    return record === undefined ? undefined : { sourceDigest: record.sourceDigest, destinationDigest: record.destinationDigest };
  }

  public recordCopy(source: string, sourceDigest: string, destination: string, destinationDigest: string): void {
    const key = keyOf(source, destination);
    const was = this.records.get(key);
    const record: CopyRecord = { source, destination, sourceDigest, destinationDigest };
    this.records.set(key, record);
    if (was?.sourceDigest === sourceDigest && was.destinationDigest === destinationDigest && was.renew !== true) return;
    this.recorded.set(key, record);
  }

  /**
   * A run found the copy up to date through this record: a record the store marked for renewal is then
   * written again, so that a state in use does not expire.
   */
  public confirm(source: string, destination: string): void {
    const record = this.records.get(keyOf(source, destination));
    if (record?.renew !== true) return;
    const renewed: CopyRecord = {
      source: record.source,
      destination: record.destination,
      sourceDigest: record.sourceDigest,
      destinationDigest: record.destinationDigest,
    };
    this.records.set(keyOf(source, destination), renewed);
    this.recorded.set(keyOf(source, destination), renewed);
  }

  /** Blob knowledge lives elsewhere on AWS (see the module comment). */
  public blobRepositories(): readonly string[] {
    return [];
  }

  public recordBlob(): void {
    // See blobRepositories.
  }

  /**
   * What was recorded (or confirmed for renewal) since the records were loaded, removed from the
   * snapshot's list of writes: of one copy, or of all of them.
   */
  public take(source?: string, destination?: string): CopyRecord[] {
    if (source === undefined || destination === undefined) {
      const all = [...this.recorded.values()];
      this.recorded.clear();
      return all;
    }
    const key = keyOf(source, destination);
    const one = this.recorded.get(key);
    this.recorded.delete(key);
    return one === undefined ? [] : [one];
  }
}
