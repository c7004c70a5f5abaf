/**
 * The deadline of a copy in one copier invocation: Lambda's remaining time less a safety margin, the
 * time the copier needs after its uploads stop at a chunk boundary (a blob of one PUT that is still
 * going, up to 64 MiB; the blob claims' records; the task sent on; the usage written). The margin is
 * a fifth of the time left at the start, at most 60 s: 60 s of the default 10-minute timeout.
 */
import type { Context } from 'aws-lambda';
import { deadlineIn, type Deadline } from '../../shared/copy/deadline.js';

/** The longest safety margin. */
const MAX_MARGIN_MS = 60_000;

/** The deadline of an invocation; none without a Lambda context (a handler called directly). */
export function invocationDeadline(context: Context | undefined): Deadline | undefined {
  if (context === undefined) return undefined;
  const remaining = context.getRemainingTimeInMillis();
  return deadlineIn(remaining - Math.min(MAX_MARGIN_MS, remaining / 5));
}
