/**
 * The deploy-time settings of the stack, read from CDK context (`cdk.json`, or `-c key=value`).
 * Every value is validated here so that a wrong one fails `cdk synth` with a message that says
 * which key is wrong and what it accepts, instead of producing a stack that misbehaves.
 */
import type { Node } from 'constructs';
import { ImageMigratorError } from '../shared/errors.js';
import { readSchedules, type ScheduleSetting } from './schedule-settings.js';

export type { ScheduleSetting } from './schedule-settings.js';

/** A context value that cannot be used; thrown while the app is built, so synth fails. */
export class StackSettingsError extends ImageMigratorError {
  public constructor(
    public readonly key: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid CDK context value "${key}": ${problem}`, options);
  }
}

/** What the stack is built from. */
export interface StackSettings {
  readonly stackName: string;
  /** Copies in flight at once: the copier event source's maximum concurrency. */
  readonly workers: number;
  /** Redeliveries after the first attempt; the queue's maxReceiveCount is retries + 1. */
  readonly retries: number;
  /** Days a run's items are kept before DynamoDB's TTL removes them. */
  readonly runTtlDays: number;
  /** The copier's Lambda timeout, in minutes: one task (one tag, every platform) must fit in it. */
  readonly copierTimeoutMinutes: number;
  /** The copier's Lambda memory in MB, which is what buys it CPU (see DEFAULT_SETTINGS.copierMemoryMb). */
  readonly copierMemoryMb: number;
  readonly schedules: readonly ScheduleSetting[];
  /**
   * The run state in the table (default on): what runs saw and pushed, so that a warm mirror run of an
   * unchanged tag costs one source HEAD and no copy message. Off: every tag is compared in full, as
   * `--no-state` does locally.
   */
  readonly runState: boolean;
  /** DEFAULT_REGISTRY / DEFAULT_NAMESPACE of the functions: empty destinations of stored (scheduled) rules. */
  readonly defaultRegistry?: string;
  readonly defaultNamespace?: string;
}

export const DEFAULT_SETTINGS = {
  stackName: 'ImageMigrator',
  workers: 7,
  retries: 3,
  runTtlDays: 30,
  copierTimeoutMinutes: 10,
  runState: true,
  /**
   * The copier's memory, from `npm run bench:copier` (HTTPS registries, the copier bundled as deployed,
   * Lambda's CPU share emulated with a CPU quota of memory / 1,769 MB of a CPU; quiet 2-core machine):
   * - it needs 130-140 MB at peak whatever the layer size (72 MB once loaded; a 512 MiB layer streams
   *   in the same memory as a 10 MiB one), 145 MB for a batch of 10;
   * - streaming costs 7.7-8.3 CPU seconds per GiB (TLS both ways, SHA-256, HTTP), so one vCPU carries
   *   about 130 MiB/s, and the copier cannot use more than one (one JavaScript thread does it all);
   * - measured on a 512 MiB layer: 44 MiB/s at 512 MB (CPU-bound), 69 at 1,024, 70 at 1,769 and 75 at
   *   3,008 (the bench's own registries and TLS fronts top out near 75); on 10 images of 12-48 MiB,
   *   0.66 s an image at 1,024 MB and 0.60 s at 1,769 (requests and table writes are latency, not CPU).
   * While CPU-bound a GiB costs the same GB-seconds at any size up to 1,769 MB; below the CPU ceiling
   * (a registry across the internet serving one stream at 20-70 MiB/s, the fixed requests of each
   * image) a smaller function costs less. 1,024 MB (0.58 vCPU, ~75 MiB/s) is that knee: 10% slower
   * than 1,769 MB on typical images at 63% of its GB-seconds. Copies between registries of one region
   * (ECR to ECR) stream faster: `-c copierMemoryMb=1769` gives them a full vCPU (~130 MiB/s).
   */
  copierMemoryMb: 1024,
} as const;

/**
 * SQS event sources accept a maximum concurrency from 2 to 1000 (ScalingConfig.MaximumConcurrency).
 * Above the account's unreserved concurrency (1,000 a region by default, shared by all its
 * functions) the copier is throttled instead: see the README's "Workers".
 */
const MIN_WORKERS = 2;
const MAX_WORKERS = 1000;
/** An SQS redrive policy accepts maxReceiveCount up to 1000. */
const MAX_RETRIES = 999;

/**
 * Reads and validates the settings. Numbers may come as numbers (cdk.json) or strings (`-c`).
 * @throws StackSettingsError naming the key and the accepted values.
 */
export function readStackSettings(node: Node): StackSettings {
  const rawWorkers: unknown = node.tryGetContext('workers');
  if (rawWorkers === 1 || (typeof rawWorkers === 'string' && /^\s*1\s*$/.test(rawWorkers))) {
    // Reserved concurrency 1 is the other way to get one copy at a time, but SQS event sources
    // keep polling with several pollers; throttled batches go back to the queue with their receive
    // count raised, so healthy tasks would reach the dead-letter queue. Refusing is the honest answer.
    throw new StackSettingsError(
      'workers',
      "1 is not supported on AWS: the copier's SQS event source needs a maximum concurrency of at least 2 " +
        '(an SQS limit), and reserved concurrency 1 would throttle it and send healthy tasks to the ' +
        'dead-letter queue. Use workers >= 2, or the local CLI with --workers 1.',
    );
  }
  const workers = integer(node, 'workers', DEFAULT_SETTINGS.workers, MIN_WORKERS, MAX_WORKERS);
  const defaults = { ...optionalWord(node, 'defaultRegistry'), ...optionalWord(node, 'defaultNamespace') };
  return {
    stackName: stackName(node),
    workers,
    retries: integer(node, 'retries', DEFAULT_SETTINGS.retries, 0, MAX_RETRIES),
    runTtlDays: integer(node, 'runTtlDays', DEFAULT_SETTINGS.runTtlDays, 1, 3650),
    // 15 minutes is Lambda's limit; the queue's visibility timeout becomes six times this value.
    copierTimeoutMinutes: integer(node, 'copierTimeoutMinutes', DEFAULT_SETTINGS.copierTimeoutMinutes, 1, 15),
    // Lambda's range; below 256 MB the copier's 140 MB leave no room and the CPU share is under 0.15 vCPU.
    copierMemoryMb: integer(node, 'copierMemoryMb', DEFAULT_SETTINGS.copierMemoryMb, 256, 10240),
    schedules: readSchedules(node, { registry: defaults.defaultRegistry, namespace: defaults.defaultNamespace }),
    runState: boolean(node, 'runState', DEFAULT_SETTINGS.runState),
    ...defaults,
  };
}

function integer(node: Node, key: string, fallback: number, min: number, max: number): number {
  const raw: unknown = node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new StackSettingsError(key, `${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function boolean(node: Node, key: string, fallback: boolean): boolean {
  const raw: unknown = node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new StackSettingsError(key, `${JSON.stringify(raw)} must be true or false`);
}

function optionalWord(node: Node, key: 'defaultRegistry' | 'defaultNamespace'): Partial<StackSettings> {
  const raw: unknown = node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return {};
  if (typeof raw !== 'string' || /\s/.test(raw)) {
    throw new StackSettingsError(key, `${JSON.stringify(raw)} must be a registry or namespace name without spaces`);
  }
  return { [key]: raw };
}

function stackName(node: Node): string {
  const raw: unknown = node.tryGetContext('stackName') ?? DEFAULT_SETTINGS.stackName;
  // CloudFormation's rule for stack names; the name is also used in the SSM rules path.
  if (typeof raw !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(raw)) {
    throw new StackSettingsError(
      'stackName',
      `${JSON.stringify(raw)} must start with a letter and hold only letters, digits and hyphens (at most 128)`,
    );
  }
  return raw;
}
