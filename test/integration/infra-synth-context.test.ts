/**
 * One real `cdk synth` (the CDK CLI running the app with tsx) proves that an invalid context value
 * fails synth with the message the settings give it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('stack settings in a real synth', () => {
  it('fails `cdk synth` with the message of an invalid value', { timeout: 120_000 }, async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        'npx',
        ['cdk', 'synth', '--no-notices', '-c', 'retries=lots', '-o', '/tmp/image-migrator-bad-context.out'],
        {
          cwd: ROOT,
          env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
          timeout: 110_000,
        },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Invalid CDK context value "retries": "lots" must be an integer from 0 to 999/);
  });
});
