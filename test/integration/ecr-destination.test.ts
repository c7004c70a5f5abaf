/**
 * Amazon ECR as a destination with nothing but an AWS profile: the real @aws-sdk/client-ecr against
 * a server of the tests that speaks ECR's JSON protocol, in front of a real docker-registry (user
 * AWS). Repositories that do not exist are created with the entry's settings, once; a token that
 * expires mid-run is replaced; an immutable tag that changed fails with ECR's reason, without retries.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, workdir } from '../support/cli-run.js';
import { startEcrFake, type EcrFake } from '../support/ecr-fake.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage, randomBytes, type SeededImage } from '../support/seed.js';

describe('ECR destination with IAM logins and created repositories', () => {
  let src: TestRegistry;
  let ecr: EcrFake;
  let dir: string;
  let env: Record<string, string>;
  const seeded = new Map<string, SeededImage>();

  before(async () => {
    [src, ecr] = await Promise.all([startRegistry(), startEcrFake()]);
    for (const tag of ['1.0', '1.1', '1.2'])
      seeded.set(`app:${tag}`, await pushImage(src, 'team/app', tag, { layers: [randomBytes(40_000), randomBytes(20_000)] }));
    seeded.set('base:1', await pushImage(src, 'team/base', '1'));
    dir = await workdir({
      'auth.json': {
        [src.host]: { insecure: true },
        [ecr.host]: {
          ecr: { region: 'eu-west-1' },
          insecure: true,
          createRepositories: {
            imageTagMutability: 'IMMUTABLE',
            scanOnPush: true,
            encryption: { kms: 'alias/mirror' },
            tags: { team: 'platform' },
          },
        },
      },
      'images.json': { [`${src.host}/team/app`]: `${ecr.host}/mirror/app`, [`${src.host}/team/base:1`]: `${ecr.host}/mirror/base` },
      credentials: '[mirror]\naws_access_key_id = AKIDPROFILEMIRROR\naws_secret_access_key = profile-secret-key\n',
      config: '[profile mirror]\nregion = eu-west-1\n',
    });
    // Only a profile: no access keys in the environment.
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION'])
      delete process.env[name];
    env = {
      AWS_PROFILE: 'mirror',
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_ENDPOINT_URL_ECR: ecr.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  });

  after(async () => {
    await Promise.all([src?.stop(), ecr?.stop()]);
  });

  it('creates the missing repositories with the settings, once each, and copies through a token that expires mid-run', async () => {
    ecr.expireTokensAfter(6);
    const result = await runCli(['--auth', 'auth.json', '--images', 'images.json', '--log', 'run.log', '--workers', '2'], {
      cwd: dir,
      env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Images\(4\) migration finished, 0 images tasks failed, 0 tasks generate failed/);
    for (const tag of ['1.0', '1.1', '1.2'])
      assert.equal(await getManifestDigest(ecr.registry, 'mirror/app', tag), seeded.get(`app:${tag}`)?.digest);
    assert.equal(await getManifestDigest(ecr.registry, 'mirror/base', '1'), seeded.get('base:1')?.digest);

    const creates = ecr.calls.filter((c) => c.action === 'CreateRepository');
    assert.deepEqual(creates.map((c) => c.input.repositoryName).sort(), ['mirror/app', 'mirror/base']);
    assert.deepEqual(creates.find((c) => c.input.repositoryName === 'mirror/app')?.input, {
      repositoryName: 'mirror/app',
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'alias/mirror' },
      tags: [{ Key: 'team', Value: 'platform' }],
    });
    assert.ok(
      ecr.calls.every((c) => c.accessKeyId === 'AKIDPROFILEMIRROR'),
      'every call signed with the profile',
    );
    assert.ok(ecr.expiredRefusals >= 1, 'the registry refused the expired token');
    assert.ok(ecr.calls.filter((c) => c.action === 'GetAuthorizationToken').length >= 2, 'a new token was fetched mid-run');

    const log = await readFile(join(dir, 'run.log'), 'utf8');
    assert.match(
      log,
      new RegExp(`credentials ${ecr.host}: ECR GetAuthorizationToken in eu-west-1, settings from auth.json key "${ecr.host}"\\n`),
    );
    assert.match(log, new RegExp(`created repository ${ecr.host}/mirror/app\\n`));
    assert.ok(!log.includes('profile-secret-key'));
  });

  it("leaves up-to-date tags of immutable repositories alone, and fails a changed one with ECR's reason and no retries", async () => {
    const before = ecr.calls.length;
    const again = await runCli(['--auth', 'auth.json', '--images', 'images.json', '--log', 'again.log', '--no-state'], { cwd: dir, env });
    assert.equal(again.code, 0, again.stderr);
    assert.ok(
      ecr.calls.slice(before).every((c) => c.action === 'GetAuthorizationToken'),
      'no repository call for up-to-date tags',
    );
    assert.equal((await readFile(join(dir, 'again.log'), 'utf8')).match(/^\S+ up-to-date /gm)?.length, 4);

    const changed = await pushImage(src, 'team/app', '1.1', { layers: [randomBytes(1000)] });
    const third = await runCli(['--auth', 'auth.json', '--images', 'images.json', '--log', 'third.log', '--no-state'], { cwd: dir, env });
    assert.equal(third.code, 1, third.stderr);
    const log = await readFile(join(dir, 'third.log'), 'utf8');
    const failed = log.split('\n').filter((line) => / failed /.test(line));
    assert.equal(failed.length, 1, log);
    assert.match(
      failed[0] ?? '',
      /attempts=1 .*TAG_INVALID: The image tag '1\.1' already exists in the 'mirror\/app' repository and cannot be overwritten because the repository is immutable\./,
    );
    assert.notEqual(await getManifestDigest(ecr.registry, 'mirror/app', '1.1'), changed.digest);
  });

  it("fails a task whose repository cannot be created with ECR's reason, at once", async () => {
    await writeFile(join(dir, 'denied.json'), JSON.stringify({ [`${src.host}/team/base:1`]: `${ecr.host}/denied/base` }));
    const result = await runCli(['--auth', 'auth.json', '--images', 'denied.json', '--log', 'denied.log'], { cwd: dir, env });
    assert.equal(result.code, 1, result.stderr);
    const log = await readFile(join(dir, 'denied.log'), 'utf8');
    assert.match(
      log,
      new RegExp(
        `failed .* attempts=1 .*: ECR CreateRepository denied/base on ${ecr.host} failed: AccessDeniedException: User: arn:aws:iam::123456789012:user/mirror is not authorized to perform: ecr:CreateRepository`,
      ),
    );
  });
});
