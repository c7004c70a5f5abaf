/**
 * `npm run bench:planner -- [--rules N] [--workers W]`: the planner of a large run on the emulators
 * (fauxqs in this process, DynamoDB Local), step by step, and what it replaced.
 * 1. One invocation sending every task itself (what the planner did before plan slices): the
 *    SendMessageBatch calls of N tag rules.
 * 2. The planner end to end (wall and CPU time), then its steps one by one: parse, overlap
 *    resolution, cutting into slices, the run item, sending the slices.
 * 3. Every slice sent as a copier sends it, W at once: time per slice invocation.
 * Prints one line per figure; the machine's load average is printed too, as wall times depend on it.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DynamoResultStore } from '../../functions/adapters/dynamo-result-store.js';
import { NoRunNotifier } from '../../functions/adapters/run-notifier.js';
import { SqsTaskQueue } from '../../functions/adapters/sqs-task-queue.js';
import { createPlannerHandler } from '../../functions/handlers/planner.js';
import { planSlices, sliceContents, tagTaskCount } from '../../functions/tasks/plan-slices.js';
import { sendSlice } from '../../functions/tasks/slice-record.js';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { mapLimit } from '../../shared/copy/limit.js';
import { resolveOverlaps } from '../../shared/pipeline/rule-overlap.js';
import { silentLogger } from '../support/aws-fixture.js';
import { startAwsEmulators } from '../support/aws-emulators.js';
import { imagesText, tagRuleLines } from '../support/large-images.js';
import { peakRssMb } from '../support/peak-rss.js';

const { values } = parseArgs({ options: { rules: { type: 'string', default: '100000' }, workers: { type: 'string', default: '8' } } });
const RULES = Number(values.rules);
const WORKERS = Number(values.workers);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Wall and CPU milliseconds of `step`. */
async function timed<T>(step: () => Promise<T> | T): Promise<{ value: T; ms: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await step();
  const used = process.cpuUsage(cpu);
  return { value, ms: Math.round(performance.now() - started), cpuMs: Math.round((used.user + used.system) / 1000) };
}

const aws = await startAwsEmulators();
try {
  log(`bench:planner: ${RULES} tag rules, load average ${loadavg()[0]?.toFixed(1)}`);
  const text = imagesText(tagRuleLines(RULES));
  const store = new DynamoResultStore(aws.dynamo, await aws.createTable('bench-planner'));
  const queueFor = async (name: string) =>
    new SqsTaskQueue(aws.sqs, (await aws.createQueues(name, { maxReceiveCount: 4, visibilityTimeoutSeconds: 300 })).queueUrl);

  // 1. Every task from one invocation, as before.
  const allTasks = sliceContents({ type: 'slice', runId: 'before', slice: 1, rules: parseImagesFile(text, 'images.json', {}) }).tasks;
  const before = await timed(async () => (await queueFor('bench-before')).enqueue(allTasks));
  log(
    `one invocation sending every task: ${allTasks.length} messages, ${Math.ceil(allTasks.length / 10)} SendMessageBatch calls, ${before.ms} ms (${before.cpuMs} ms CPU)`,
  );

  // 2. The planner, end to end and step by step.
  const queue = await queueFor('bench-slices');
  const planner = createPlannerHandler({
    store,
    notifier: new NoRunNotifier(),
    logger: silentLogger,
    queue,
    readRules: () => Promise.reject(new Error('unused')),
  });
  const run = await timed(() => planner({ images: text }));
  log(
    `planner: ${run.value.tasks} tasks in ${run.value.slices} slices, ${run.ms} ms (${run.cpuMs} ms CPU), peak RSS of this process ${peakRssMb()} MB`,
  );
  const parse = await timed(() => parseImagesFile(text, 'images.json', {}));
  const overlap = await timed(() => resolveOverlaps(parse.value));
  const cut = await timed(() => planSlices('bench', overlap.value.rules, overlap.value.coveredTags));
  const record = await timed(() =>
    store.createRun(
      {
        runId: 'bench',
        startedAt: new Date().toISOString(),
        trigger: 'bench',
        taskCount: tagTaskCount(overlap.value.rules),
        generateFailed: 0,
        generateFailures: [],
      },
      cut.value.length,
    ),
  );
  const send = await timed(async () => (await queueFor('bench-steps')).enqueueSlices(cut.value));
  log(
    `planner steps: parse ${parse.ms} ms, overlaps ${overlap.ms} ms, slicing ${cut.ms} ms (${cut.value.length} slices, ` +
      `${Math.round(cut.value.reduce((n, s) => n + s.rules.length, 0) / cut.value.length)} rules each), run item ${record.ms} ms, sending the slices ${send.ms} ms`,
  );

  // 3. The slices, sent as copiers send them.
  const copies = await queueFor('bench-copies');
  const times: number[] = [];
  const all = await timed(() =>
    mapLimit(cut.value, WORKERS, async (slice) => {
      const one = await timed(() => sendSlice({ store, queue: copies, logger: silentLogger }, slice));
      times.push(one.ms);
    }),
  );
  times.sort((a, b) => a - b);
  log(
    `slice invocations (${WORKERS} at once): median ${times[Math.floor(times.length / 2)]} ms, slowest ${times[times.length - 1]} ms; ` +
      `all ${cut.value.length} slices in ${all.ms} ms; state ${JSON.stringify({ pending: (await store.getRunState('bench'))?.pendingExpansions })}`,
  );
} finally {
  await aws.stop();
}
