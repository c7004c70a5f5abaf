/**
 * `image-migrator config` against a local HTTPS Kubernetes API server, through the real
 * @kubernetes/client-node with generated kubeconfigs (bearer token, client certificate).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runConfigCommand } from '../support/kube-cli.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api-server.js';
import { clusterFixture, EXPECTED_IMAGES_JSON, PG_DIGEST } from '../support/kube-fixture.js';

describe('image-migrator config', () => {
  let kube: KubeApiServer;
  let work: string;

  before(async () => {
    kube = await startKubeApiServer(clusterFixture());
    work = await mkdtemp(join(tmpdir(), 'discovery-'));
  });
  after(async () => {
    await kube.close();
    await rm(work, { recursive: true, force: true });
  });

  it('writes every image of every workload kind once, sorted, tag kept for tag+digest, no tag for digest-only', async () => {
    const run = await runConfigCommand(['-k', kube.kubeconfigPath, '-t', 'registry.example.com/team'], { cwd: work });
    assert.equal(run.stderr, `Found 10 images in 12 workloads across 4 namespaces; wrote ${join(work, 'images.json')}\n`);
    assert.equal(run.code, 0);
    const text = await readFile(join(work, 'images.json'), 'utf8');
    assert.equal(text, EXPECTED_IMAGES_JSON);
    assert.ok(kube.requests.includes('/apis/batch/v1/cronjobs?limit=500'), 'cronjobs listed across all namespaces');
  });

  it("writes a file the migrate command's images.json parser accepts", () => {
    const rules = parseImagesFile(EXPECTED_IMAGES_JSON, 'images.json', {});
    assert.equal(rules.length, 10);
    const pg = rules.find((r) => r.source.repository === 'library/postgres');
    assert.equal(pg?.source.digest, PG_DIGEST);
    assert.equal(pg?.destination.tag, '16');
    const proxy = rules.find((r) => r.source.repository === 'kube-proxy');
    assert.equal(proxy?.destination.tag, undefined);
  });

  it('pages with limit/continue and restarts a listing whose continue token expired', async () => {
    kube.requests.length = 0;
    kube.expireNextContinue('pods');
    const run = await runConfigCommand(['-k', kube.kubeconfigPath, '-t', 'registry.example.com/team', '--chunk-size', '2', '--stdout'], {
      cwd: work,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, EXPECTED_IMAGES_JSON);
    assert.equal(run.stderr, 'Found 10 images in 12 workloads across 4 namespaces; wrote standard output\n');
    const podRequests = kube.requests.filter((r) => r.startsWith('/api/v1/pods?'));
    // 6 pods in pages of 2: first page, expired continue, restart, then three pages to the end.
    assert.equal(podRequests.filter((r) => r === '/api/v1/pods?limit=2').length, 2);
    assert.equal(podRequests.length, 5);
  });

  it('--platform writes every rule in the object form with those platforms', async () => {
    const run = await runConfigCommand(
      ['-k', kube.kubeconfigPath, '-t', 'registry.example.com/team', '--platform', 'linux/amd64, linux/arm64', '--stdout'],
      { cwd: work },
    );
    assert.equal(run.code, 0, run.stderr);
    const plain = JSON.parse(EXPECTED_IMAGES_JSON) as Record<string, string>;
    const written = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(
      written,
      Object.fromEntries(Object.entries(plain).map(([k, to]) => [k, { to, platforms: ['linux/amd64', 'linux/arm64'] }])),
    );
    const rules = parseImagesFile(run.stdout, 'images.json', {});
    assert.ok(rules.length > 0 && rules.every((r) => r.platforms?.join(',') === 'linux/amd64,linux/arm64'));

    const bad = await runConfigCommand(
      ['-k', kube.kubeconfigPath, '-t', 'registry.example.com/team', '--platform', 'linux/amd64,arm64', '--stdout'],
      { cwd: work },
    );
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.equal(
      bad.stderr,
      'image-migrator config: --platform: "linux/amd64,arm64": "arm64" is not os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8)\n',
    );
  });

  it('reads only the namespaces asked for, with a client certificate and another context', async () => {
    kube.requests.length = 0;
    const run = await runConfigCommand(
      ['--kubeconfig', kube.kubeconfigPath, '--context', 'cert-ctx', '-n', 'team-b', '--repo', 'registry.example.com/team', '-o', 'b.json'],
      { cwd: work },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, `Found 4 images in 3 workloads across 1 namespace; wrote ${join(work, 'b.json')}\n`);
    assert.deepEqual(Object.keys(JSON.parse(await readFile(join(work, 'b.json'), 'utf8')) as object), [
      'docker.io/bitnami/kubectl:1.30',
      `docker.io/library/postgres:16@${PG_DIGEST}`,
      'gcr.io/distroless/static:nonroot',
      'ghcr.io/acme/tools/migrate:v2',
    ]);
    assert.ok(kube.requests.includes('/apis/batch/v1/namespaces/team-b/cronjobs?limit=500'));
    assert.ok(
      kube.requests.every((r) => r.includes('/namespaces/team-b/')),
      'no cluster-wide list',
    );
  });

  it('finds the kubeconfig through $KUBECONFIG when -k is not given', async () => {
    const run = await runConfigCommand(['-t', 'registry.example.com/team', '--stdout', '-n', 'kube-system'], {
      cwd: work,
      env: { KUBECONFIG: kube.kubeconfigPath },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `{\n    "registry.k8s.io/kube-proxy@${`sha256:${'b2'.repeat(32)}`}": "registry.example.com/team/kube-proxy"\n}\n`,
    );
  });

  it('stops with the resource and verb RBAC denied when one list is forbidden', async () => {
    kube.forbid = [{ resource: 'cronjobs', namespace: 'team-a' }];
    try {
      const run = await runConfigCommand(
        ['-k', kube.kubeconfigPath, '-n', 'team-a,team-b', '-t', 'registry.example.com/team', '-o', 'denied.json'],
        { cwd: work },
      );
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /^image-migrator config: forbidden: cannot list cronjobs\.batch in namespace "team-a" \(server: cronjobs\.batch is forbidden: User "system:serviceaccount:ci:reader" cannot list resource "cronjobs" in API group "batch" in the namespace "team-a"\); ask for RBAC "list" on cronjobs\.batch\n$/,
      );
      await assert.rejects(readFile(join(work, 'denied.json')), { code: 'ENOENT' });
    } finally {
      kube.forbid = [];
    }
  });

  it('says to pass -n when a cluster-wide list is forbidden', async () => {
    kube.forbid = [{ resource: 'daemonsets' }];
    try {
      const run = await runConfigCommand(['-k', kube.kubeconfigPath, '-t', 'registry.example.com/team', '--stdout'], { cwd: work });
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /forbidden: cannot list daemonsets\.apps across all namespaces \(cluster scope\) .* or pass -n with namespaces you may read\n$/,
      );
      assert.equal(run.stdout, '');
    } finally {
      kube.forbid = [];
    }
  });
});
