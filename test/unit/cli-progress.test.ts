/**
 * What the progress display shows: a line redrawn in place on a terminal, plain lines elsewhere.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { formatBytes, Progress } from '../../cli/progress.js';
import type { RunEvent } from '../../shared/pipeline/local-run.js';

function capture(isTTY: boolean): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write: (chunk, _enc, done) => {
        text += String(chunk);
        done();
      },
    }),
    { isTTY, columns: 200 },
  );
  return { stream, text: () => text };
}

const done = (outcome: 'copied' | 'up-to-date' | 'failed', finished: number): RunEvent => ({
  type: 'done',
  finished,
  total: 2,
  result: {
    taskId: String(finished),
    source: `src/app:${finished}`,
    destination: `dst/app:${finished}`,
    outcome,
    bytes: 3 * 1024 * 1024,
    attempts: 2,
    durationMs: 5,
    ...(outcome === 'failed' ? { error: 'GET x: 503 Service Unavailable' } : {}),
  },
});

describe('progress display', () => {
  it('prints one plain line per task when stderr is not a terminal', () => {
    const out = capture(false);
    const progress = new Progress(out.stream);
    progress.event(done('copied', 1));
    progress.event(done('failed', 2));
    progress.finish();
    assert.equal(
      out.text(),
      '[1/2] copied src/app:1 -> dst/app:1 (3.0 MiB, 2 attempts)\n[2/2] failed src/app:2 -> dst/app:2: GET x: 503 Service Unavailable\n',
    );
  });

  it('redraws one status line on a terminal and keeps failures on their own lines', () => {
    const out = capture(true);
    const progress = new Progress(out.stream);
    progress.event(done('copied', 1));
    progress.event(done('failed', 2));
    progress.finish();
    const text = out.text();
    // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is tested
    assert.match(text, /\r\x1b\[2K\[1\/2\] 1 copied, 0 up to date, 0 failed, 3\.0 MiB/);
    // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is tested
    assert.match(text, /\r\x1b\[2Kfailed src\/app:2 -> dst\/app:2: GET x: 503 Service Unavailable\n/);
    assert.ok(text.endsWith('\n'));
  });

  it('formats sizes in binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(256 * 1024 * 1024), '256.0 MiB');
  });
});
