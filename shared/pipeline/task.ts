/**
 * Tasks and their results: the messages between the planner, the copier and the result store. A
 * task never carries a credential; the copier looks credentials up by registry and path.
 */
import type { LeftOutLayer } from '../copy/foreign-layers.js';
import type { LookedAhead } from '../copy/image-copier.js';

/** One tag (or digest) of one source, to be copied to one destination. */
export interface CopyTask {
  readonly runId: string;
  /** Stable within a run: the same rule and tag always give the same id, so redelivery is idempotent. */
  readonly taskId: string;
  /** Fully qualified source, with a tag or a digest (or both). */
  readonly source: string;
  /** Fully qualified destination, with a tag (or only a digest when the source has no tag). */
  readonly destination: string;
  /** The tag is declared immutable (a rule's `immutable`, or --immutable-tags): listed at the destination means up to date. */
  readonly immutable?: boolean;
  /** Only these platforms (`os/arch[/variant]`) of an index are copied; every platform when absent. */
  readonly platforms?: readonly string[];
  /** The referrers (signatures, SBOMs, attestations) of each copied manifest go with it. */
  readonly referrers?: boolean;
  /** Foreign (non-distributable) layers are copied too, where their source serves them; left out when absent. */
  readonly foreignLayers?: boolean;
  /**
   * The run's hints (state, destination tag list, immutable tags) were consulted before the task was
   * queued and did not settle it: the copy compares in full without asking them again.
   */
  readonly hintsChecked?: boolean;
  /** The run neither reads nor writes the run state (a planner event's `"state": false`, as --no-state). */
  readonly noState?: boolean;
  /** The copy's first step taken ahead of it by the local run (never in a message: it holds manifests). */
  readonly lookedAhead?: LookedAhead;
}

/** How a task ended. */
export const TaskOutcome = {
  Copied: 'copied',
  UpToDate: 'up-to-date',
  /** A single-platform image of a platform the rule does not ask for: nothing to copy. */
  Skipped: 'skipped',
  Failed: 'failed',
} as const;
export type TaskOutcome = (typeof TaskOutcome)[keyof typeof TaskOutcome];

/** What the copier records for a task. */
export interface TaskResult {
  readonly taskId: string;
  readonly source: string;
  readonly destination: string;
  readonly outcome: TaskOutcome;
  /** Digest of the top manifest at the destination, when it was fetched. */
  readonly digest?: string;
  /** The source's digest, when the destination's differs (an index narrowed to some platforms). */
  readonly sourceDigest?: string;
  /** Referrers (signatures, SBOMs, attestations) of the image, all at the destination after the task. */
  readonly referrers?: number;
  /** Why a task was skipped, or how an up-to-date one was found without its digest. */
  readonly reason?: string;
  /** Foreign layers not copied (digest, size, media type, urls, reason); absent when none. */
  readonly leftOut?: readonly LeftOutLayer[];
  /** Blob bytes transferred (streamed) for this task; mounts and skips count 0. */
  readonly bytes: number;
  readonly attempts: number;
  /** Registry requests of the attempt that gave this result (tokens and retries included). */
  readonly requests?: number;
  /** Retries below the task, over all its attempts, by kind (`manifest-get`, `blob-get`, `blob`, ...); absent when none. */
  readonly retried?: Readonly<Record<string, number>>;
  /** A message without secrets, for failed tasks. */
  readonly error?: string;
  readonly durationMs: number;
}

/** A rule that could not be expanded into tasks (tags not listable, bad reference ...). */
export interface GenerateFailure {
  readonly source: string;
  readonly destination: string;
  readonly error: string;
}
