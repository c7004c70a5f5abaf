/**
 * The --log file: a line that comes after the log was closed is dropped, and everything written
 * before it is in the file (a write after the end would fail the stream and lose what it still held).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RunLog } from '../../cli/run-log.js';

describe('run log', () => {
  it('keeps every line written before close when another comes after it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'im-run-log-'));
    try {
      const path = join(dir, 'run.log');
      const log = new RunLog(path);
      for (let i = 0; i < 100; i++) log.line(`line ${i}`, Date.UTC(2026, 0, 1));
      const closing = log.close();
      log.line('late');
      await closing;
      log.line('later still');
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      assert.equal(lines.length, 100);
      assert.equal(lines[0], '2026-01-01T00:00:00.000Z line 0');
      assert.equal(lines[99], '2026-01-01T00:00:00.000Z line 99');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
