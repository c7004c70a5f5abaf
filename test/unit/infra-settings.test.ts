/**
 * Context values: defaults, values as `-c` passes them (strings), and the exact message of each
 * invalid value, without synth (test/integration/infra-synth-context.test.ts runs a real one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { readEcrSettings } from '../../infra/ecr-settings.js';
import { readStackSettings, StackSettingsError } from '../../infra/settings.js';

function settings(context: Record<string, unknown>) {
  return readStackSettings(new App({ context }).node);
}
function refusal(context: Record<string, unknown>): string {
  try {
    settings(context);
  } catch (error) {
    assert.ok(error instanceof StackSettingsError);
    return error.message;
  }
  assert.fail('expected a StackSettingsError');
}

describe('stack settings from CDK context', () => {
  it('defaults to 7 workers, 3 retries, 30 days of runs, 10-minute copies at 1,024 MB, no schedules, the run state on', () => {
    assert.deepEqual(settings({}), {
      stackName: 'ImageMigrator',
      workers: 7,
      retries: 3,
      runTtlDays: 30,
      copierTimeoutMinutes: 10,
      copierMemoryMb: 1024,
      schedules: [],
      runState: true,
    });
  });

  it('turns the run state off with runState false, as `-c runState=false` passes it, and refuses anything else', () => {
    assert.equal(settings({ runState: 'false' }).runState, false);
    assert.equal(settings({ runState: false }).runState, false);
    assert.equal(settings({ runState: 'true' }).runState, true);
    assert.equal(refusal({ runState: 'no' }), 'Invalid CDK context value "runState": "no" must be true or false');
  });

  it('accepts numbers given as strings and schedules given as JSON, as `cdk -c` passes them', () => {
    const s = settings({ workers: '12', retries: '0', stackName: 'Mirror-2', schedules: '{"nightly":"cron(0 3 * * ? *)"}' });
    assert.equal(s.workers, 12);
    assert.equal(s.retries, 0);
    assert.equal(s.stackName, 'Mirror-2');
    assert.deepEqual(s.schedules, [{ name: 'nightly', expression: 'cron(0 3 * * ? *)' }]);
  });

  it('passes default registry and namespace through, and refuses one with spaces', () => {
    const s = settings({ defaultRegistry: 'swr.example.com', defaultNamespace: 'mirror' });
    assert.equal(s.defaultRegistry, 'swr.example.com');
    assert.equal(s.defaultNamespace, 'mirror');
    assert.equal(
      refusal({ defaultNamespace: 'my team' }),
      'Invalid CDK context value "defaultNamespace": "my team" must be a registry or namespace name without spaces',
    );
  });

  it('names the key and the accepted range for a value that is not an integer in range', () => {
    assert.equal(refusal({ workers: 'abc' }), 'Invalid CDK context value "workers": "abc" must be an integer from 2 to 1000');
    assert.equal(refusal({ workers: 2.5 }), 'Invalid CDK context value "workers": 2.5 must be an integer from 2 to 1000');
    assert.equal(refusal({ workers: 1001 }), 'Invalid CDK context value "workers": 1001 must be an integer from 2 to 1000');
    assert.equal(refusal({ retries: '-1' }), 'Invalid CDK context value "retries": "-1" must be an integer from 0 to 999');
    assert.equal(
      refusal({ copierTimeoutMinutes: 20 }),
      'Invalid CDK context value "copierTimeoutMinutes": 20 must be an integer from 1 to 15',
    );
    assert.equal(refusal({ copierMemoryMb: 128 }), 'Invalid CDK context value "copierMemoryMb": 128 must be an integer from 256 to 10240');
    assert.equal(settings({ copierMemoryMb: '1769' }).copierMemoryMb, 1769);
  });

  it('accepts workers from 2 to 1,000, the range of an SQS event source', () => {
    assert.equal(settings({ workers: 2 }).workers, 2);
    assert.equal(settings({ workers: '1000' }).workers, 1000);
    assert.equal(refusal({ workers: 0 }), 'Invalid CDK context value "workers": 0 must be an integer from 2 to 1000');
    assert.equal(refusal({ workers: '-3' }), 'Invalid CDK context value "workers": "-3" must be an integer from 2 to 1000');
  });

  it('refuses one worker and says why and what to do instead', () => {
    assert.equal(refusal({ workers: '1' }), refusal({ workers: 1 }));
    assert.match(
      refusal({ workers: 1 }),
      /^Invalid CDK context value "workers": 1 is not supported on AWS: .*maximum concurrency of at least 2 .*Use workers >= 2, or the local CLI with --workers 1\.$/,
    );
  });

  it('refuses a schedule that is not a rate or cron expression, and a bad stack name', () => {
    assert.equal(
      refusal({ schedules: { nightly: 'every day' } }),
      'Invalid CDK context value "schedules": "nightly": "every day" must be a "rate(...)" or "cron(...)" expression',
    );
    assert.match(refusal({ stackName: 'my_stack' }), /^Invalid CDK context value "stackName": "my_stack" must start with a letter/);
  });
});

describe('ECR repositories from context', () => {
  const ecr = (context: Record<string, unknown>) => readEcrSettings(new App({ context }).node);

  it('takes lists of names, patterns and ARNs, also as JSON text from -c', () => {
    assert.deepEqual(ecr({}), { destinations: [], sources: [] });
    assert.deepEqual(ecr({ ecrDestinations: '["team/*", "app"]', ecrSources: ['arn:aws:ecr:us-west-2:111122223333:repository/base/*'] }), {
      destinations: ['team/*', 'app'],
      sources: ['arn:aws:ecr:us-west-2:111122223333:repository/base/*'],
    });
    assert.deepEqual(ecr({ ecrDestinations: 'team/*' }), { destinations: ['team/*'], sources: [] });
  });

  it('names the key and the entry it cannot use', () => {
    assert.throws(() => ecr({ ecrDestinations: ['Team/App'] }), {
      message:
        'Invalid CDK context value "ecrDestinations": "Team/App" is neither a repository name or pattern (lower case, such as "team/*") nor an ECR repository ARN',
    });
    assert.throws(() => ecr({ ecrSources: '["x"' }), {
      message: 'Invalid CDK context value "ecrSources": is not a JSON list such as ["team/*"]',
    });
  });
});
