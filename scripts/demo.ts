/**
 * The README's first command: starts two local registries of the project's own (an anonymous source
 * and a destination with a password), seeds sample images, migrates them with the real CLI twice
 * (a copy, then an up-to-date check), verifies the digests, and stops everything.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../test/support/cli-run.js';
import { startRegistry, type TestRegistry } from '../test/support/registries.js';
import { getManifestDigest, pushImage, pushMultiArch, randomBytes } from '../test/support/seed.js';

const DEMO_DIR = join(PROJECT_ROOT, '.demo');

function runMigrator(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'image-migrator.cjs'), ...args], {
      cwd: DEMO_DIR,
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  await rm(DEMO_DIR, { recursive: true, force: true });
  await mkdir(DEMO_DIR, { recursive: true });
  let source: TestRegistry | undefined;
  let destination: TestRegistry | undefined;
  try {
    console.log('Starting two local registries (docker-registry on 127.0.0.1) ...');
    [source, destination] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic', users: { demo: 'demo-password' } })]);
    console.log(`  source:      ${source.host} (anonymous)`);
    console.log(`  destination: ${destination.host} (user "demo", password from $DEST_PASSWORD)`);

    console.log('Seeding sample images in the source ...');
    const base = randomBytes(2 * 1024 * 1024, 7);
    const expected: Array<[string, string, string]> = [];
    for (const [i, tag] of ['1.0', '1.1', '2.0'].entries()) {
      const image = await pushImage(source, 'team/web', tag, { layers: [base, randomBytes(256 * 1024, 100 + i)] });
      expected.push([`mirror/web`, tag, image.digest]);
    }
    const multi = await pushMultiArch(source, 'team/base', '3.19', { format: 'oci', sharedLayers: [base] });
    expected.push(['mirror/base', '3.19', multi.index.digest]);
    const tool = await pushImage(source, 'tools/cli', 'v2', { format: 'oci' });
    expected.push(['demo/cli', 'v2', tool.digest]);

    const auth = {
      [source.host]: { insecure: true },
      [destination.host]: { username: 'demo', password: '${DEST_PASSWORD}', insecure: true },
    };
    const images = {
      [`${source.host}/team/web`]: `${destination.host}/mirror/web`,
      [`${source.host}/team/base:3.19`]: `${destination.host}/mirror/base`,
      [`${source.host}/tools/cli:v2`]: '',
    };
    await writeFile(join(DEMO_DIR, 'auth.json'), `${JSON.stringify(auth, null, 4)}\n`);
    await writeFile(join(DEMO_DIR, 'images.json'), `${JSON.stringify(images, null, 4)}\n`);
    console.log(`Wrote .demo/auth.json and .demo/images.json:\n${JSON.stringify(images, null, 4)}\n`);

    const args = [
      '--auth',
      'auth.json',
      '--images',
      'images.json',
      '--registry',
      destination.host,
      '--namespace',
      'demo',
      '--report',
      'report.json',
    ];
    const env = { DEST_PASSWORD: 'demo-password' };
    console.log(`$ image-migrator ${args.join(' ')}`);
    const code = await runMigrator(args, env);
    console.log('\nSecond run (nothing changed, so every image is up to date and no blob moves):');
    console.log(`$ image-migrator ${args.join(' ')}`);
    const again = await runMigrator(args, env);

    console.log('\nDigests at the destination, read back with the registry API:');
    let mismatches = 0;
    for (const [repo, tag, digest] of expected) {
      const got = await getManifestDigest({ url: destination.url, username: 'demo', password: 'demo-password' }, repo, tag);
      if (got !== digest) mismatches++;
      console.log(`  ${got === digest ? 'ok      ' : 'MISMATCH'} ${destination.host}/${repo}:${tag} ${got ?? '(missing)'}`);
    }
    console.log(`
Done. The log is .demo/image-migrator.log and the JSON report .demo/report.json.
To migrate between real registries, write your own auth.json and images.json (see README.md) and run:
  npx image-migrator --auth auth.json --images images.json --workers 7 --retries 3`);
    return code !== 0 || again !== 0 || mismatches > 0 ? 1 : 0;
  } finally {
    await Promise.all([source?.stop(), destination?.stop()]);
  }
}

process.exitCode = await main();
