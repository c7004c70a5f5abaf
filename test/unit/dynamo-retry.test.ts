/**
 * Which table errors are retried: lost transaction races and throttles are, failed conditions and
 * everything else are not; every retry is reported and the attempts are bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { transientReason, withTableRetry, type TableRetry } from '../../functions/adapters/dynamo-retry.js';

function cancelled(...codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

describe('table write retries', () => {
  it('retries a transaction conflict and a throttle, not a failed condition', () => {
    assert.equal(transientReason(cancelled('None', 'TransactionConflict')), 'TransactionConflict');
    assert.equal(transientReason(cancelled('ConditionalCheckFailed', 'TransactionConflict')), undefined);
    assert.equal(
      transientReason(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' })),
      'ProvisionedThroughputExceededException',
    );
    assert.equal(transientReason(new Error('ValidationException')), undefined);
  });

  it('reports each retry and gives up after the last attempt', async () => {
    const retries: TableRetry[] = [];
    let calls = 0;
    const value = await withTableRetry('record result', { attempts: 5, baseMs: 1, maxMs: 2, onRetry: (r) => retries.push(r) }, async () => {
      if (++calls < 3) throw cancelled('None', 'TransactionConflict');
      return 'ok';
    });
    assert.equal(value, 'ok');
    assert.deepEqual(
      retries.map((r) => [r.operation, r.attempt, r.reason]),
      [
        ['record result', 1, 'TransactionConflict'],
        ['record result', 2, 'TransactionConflict'],
      ],
    );
    calls = 0;
    await assert.rejects(
      withTableRetry('record result', { attempts: 3, baseMs: 1, maxMs: 2 }, async () => {
        calls++;
        throw cancelled('TransactionConflict');
      }),
      TransactionCanceledException,
    );
    assert.equal(calls, 3);
  });
});
