/**
 * The copier's fleet metrics as CloudWatch reads them: embedded metric format lines on stdout with
 * the ImageMigrator namespace, the service dimension and the run id as metadata.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmfRunMetrics } from '../../functions/adapters/run-metrics.js';

function captured(work: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  try {
    work();
  } finally {
    process.stdout.write = write;
  }
  return lines
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('fleet metrics (EMF)', () => {
  it('writes a recorded task and a retry as metrics of the ImageMigrator namespace with the run id', () => {
    const metrics = new EmfRunMetrics();
    const lines = captured(() => {
      metrics.taskRecorded('run-7', {
        taskId: '1:a',
        source: 's',
        destination: 'd',
        outcome: 'failed',
        bytes: 0,
        attempts: 4,
        durationMs: 3,
        error: 'x',
      });
      metrics.taskRecorded('run-7', {
        taskId: '1:b',
        source: 's',
        destination: 'd',
        outcome: 'copied',
        bytes: 4096,
        attempts: 1,
        durationMs: 3,
      });
      metrics.taskRetried('run-7');
    });
    assert.equal(lines.length, 3);
    const [failed, copied, retry] = lines;
    const names = (line: Record<string, unknown> | undefined) =>
      ((line?._aws as { CloudWatchMetrics: { Namespace: string; Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0]?.Metrics ?? []).map(
        (m) => m.Name,
      );
    assert.deepEqual(names(failed), ['TasksFailed', 'BytesCopied']);
    assert.equal(copied?.BytesCopied, 4096);
    assert.equal(retry?.TaskRetries, 1);
    for (const line of lines) {
      assert.equal(line.runId, 'run-7');
      assert.equal((line._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]?.Namespace, 'ImageMigrator');
    }
  });
});
