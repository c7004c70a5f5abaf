/**
 * The events the pipeline's functions accept and what they answer, as zod schemas shared by the
 * callers (`image-migrator cloud`, schedules, push events) and the functions themselves: the
 * planner's event and result, the summary's event and the part of its answer the CLI reads, and
 * the error payload Lambda returns for a function that threw. A field added here is checked on
 * both sides.
 */
import * as z from 'zod';
import { ConfigError } from '../errors.js';

const Text = z.string().min(1);

/** The planner's input: rules inline, or the name of stored rules (schedules). */
export const PlannerEventSchema = z
  .object({
    /** images.json rules: an object, or the file's text (which keeps duplicate keys). */
    images: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    /** The file's text gzipped, in base64: a large images.json within Lambda's 6 MB event (`cloud run` sends it so). */
    imagesGzip: Text.optional(),
    /** The name of an SSM parameter under the stack's rules prefix. */
    rulesParameter: Text.optional(),
    registry: z.string().optional(),
    namespace: z.string().optional(),
    /** `manual` (default), `schedule:NAME`, `webhook` ... */
    trigger: Text.optional(),
    /** false: this run neither reads nor writes the run state, every tag is compared in full (the CLI's --no-state). */
    state: z.boolean().optional(),
  })
  .refine((e) => [e.images, e.imagesGzip, e.rulesParameter].filter((v) => v !== undefined).length <= 1, {
    message: 'give one of "images", "imagesGzip" and "rulesParameter", not several',
  })
  .refine((e) => e.images !== undefined || e.imagesGzip !== undefined || e.rulesParameter !== undefined, {
    message:
      'needs "images" (the rules of images.json, as an object or its text), "imagesGzip" (the text gzipped, in base64) or "rulesParameter" (the name of stored rules)',
  });
export type PlannerEvent = Readonly<z.input<typeof PlannerEventSchema>>;

/** The planner's answer. `tasks` counts tag tasks known now; expansions add theirs later. */
export const PlannerResultSchema = z.object({
  runId: Text,
  tasks: z.number().int().nonnegative(),
  generateFailed: z.number().int().nonnegative(),
  /** All-tags rules handed to the copiers for listing. */
  expanding: z.number().int().nonnegative(),
  /** Plan slices handed to the copiers to send (a large run's rules); 0 or absent when the planner sent every message. */
  slices: z.number().int().nonnegative().optional(),
});
export type PlannerResult = Readonly<z.infer<typeof PlannerResultSchema>>;

/** Failed tasks a summary answer holds unless the event asks otherwise, and the most it may ask. */
export const DEFAULT_SUMMARY_FAILURES = 100;
export const MAX_SUMMARY_FAILURES = 1000;

/** The summary function's input: a run, and which page of its failed tasks. */
export const SummaryEventSchema = z.object({
  runId: Text,
  /** Failed tasks to return (default 100, at most 1,000; 0 for counts only). */
  failures: z.number().int().min(0).max(MAX_SUMMARY_FAILURES).optional(),
  /** The `nextFailures` of the previous answer, for the next page. */
  after: Text.optional(),
});
export type SummaryEvent = Readonly<z.infer<typeof SummaryEventSchema>>;

const Failure = z.object({ source: z.string(), destination: z.string(), error: z.string() });

/** The part of the summary function's answer (functions/runs/run-summary.ts) that the CLI reads. */
export const SummaryViewSchema = z.object({
  runId: Text,
  trigger: z.string(),
  startedAt: z.string(),
  finished: z.boolean(),
  line: z.string(),
  tasks: z.number(),
  copied: z.number(),
  upToDate: z.number(),
  failed: z.number(),
  generateFailed: z.number(),
  bytes: z.number(),
  /** Registry requests of the tasks. */
  requests: z.number().optional(),
  failures: z.array(Failure),
  /** Page token of the next failures, when there are more. */
  nextFailures: z.string().optional(),
  generateFailures: z.array(Failure),
  /** What the run's functions measured, for the cost estimate (cli/run-cost.ts). */
  usage: z
    .object({
      functionMs: z.number(),
      functionMbMs: z.number(),
      invocations: z.number(),
      sqsRequests: z.number(),
      dynamoRequests: z.number(),
      readUnits: z.number(),
      writeUnits: z.number(),
    })
    .optional(),
});
export type SummaryView = z.infer<typeof SummaryViewSchema>;

/** What Lambda returns for a function that threw: the error's `name` and message. */
export const FunctionErrorSchema = z.object({ errorType: z.string().optional(), errorMessage: z.string().optional() });

/** `path: problem` of a schema failure, for the first few issues. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `}${issue.message}`)
    .join('; ');
}

/**
 * Checks an event against `schema`; a mismatch is a ConfigError naming `what` and the first field
 * that is wrong, which the CLI reports with exit 2.
 */
export function parseEvent<S extends z.ZodType>(schema: S, event: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const key = first !== undefined && first.path.length > 0 ? first.path.map(String).join('.') : undefined;
  throw new ConfigError(what, key, key === undefined ? describeIssues(parsed.error) : (first?.message ?? 'invalid'), {
    cause: parsed.error,
  });
}
