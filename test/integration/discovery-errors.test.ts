/**
 * What a user sees when `image-migrator config` cannot do its job: missing kubeconfig, unknown
 * context, unreachable cluster, TLS failures, rejected credentials, colliding destinations.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.js';
import { runConfigCommand } from '../support/kube-cli.js';
import { kubeconfigYaml } from '../support/kube-config-file.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api-server.js';

const TARGET = ['-t', 'registry.example.com/team'];
const deployment = (namespace: string, name: string, images: string[]) => ({
  metadata: { namespace, name },
  spec: { selector: {}, template: { metadata: {}, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } } },
});

describe('image-migrator config errors', () => {
  let kube: KubeApiServer;
  let work: string;

  before(async () => {
    kube = await startKubeApiServer({
      deployments: [
        deployment('etcd', 'a', ['quay.io/coreos/etcd:3.5.0']),
        deployment('etcd', 'b', ['gcr.io/etcd-development/etcd:3.5.0']),
        deployment('pinned', 'web', ['nginx:1.25', `nginx:1.25@sha256:${'c3'.repeat(32)}`]),
      ],
    });
    work = await mkdtemp(join(tmpdir(), 'discovery-errors-'));
  });
  after(async () => {
    await kube.close();
    await rm(work, { recursive: true, force: true });
  });

  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runConfigCommand(args, { cwd: work, env });
  const kubeconfig = (name: string, server: string, caCert: string | undefined, token = kube.token) =>
    kube.writeKubeconfig(name, kubeconfigYaml({ server, caCert, token, pki: kube.pki }));

  it('names the missing kubeconfig file and how to point at one', async () => {
    const r = await run([...TARGET], {});
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `image-migrator config: ${join(work, '.kube', 'config')}: no kubeconfig file here; pass -k/--kubeconfig or set KUBECONFIG\n`,
    );
  });

  it('lists the contexts there are when --context names none of them', async () => {
    const r = await run(['-k', kube.kubeconfigPath, '--context', 'prod', ...TARGET]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `image-migrator config: ${kube.kubeconfigPath}: "prod": no such context (available: token-ctx, cert-ctx)\n`);
  });

  it('says the cluster cannot be reached when nothing listens', async () => {
    const port = await freePort();
    const file = await kubeconfig('closed.yaml', `https://127.0.0.1:${port}`, kube.pki.caCert);
    const r = await run(['-k', file, ...TARGET]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `image-migrator config: cannot reach the cluster at https://127.0.0.1:${port} (ECONNREFUSED)\n`);
  });

  it('reports a TLS failure when the kubeconfig trusts another CA', async () => {
    const file = await kubeconfig('wrong-ca.yaml', kube.url, kube.pki.otherCaCert);
    const r = await run(['-k', file, ...TARGET]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(
        `^image-migrator config: TLS failure talking to ${kube.url} \\([A-Z_]+\\): its certificate is not trusted \\(check the cluster's certificate-authority data in the kubeconfig\\)\\n$`,
      ),
    );
  });

  it('reports a TLS failure when the kubeconfig has no CA for a private certificate', async () => {
    const file = await kubeconfig('no-ca.yaml', kube.url, undefined);
    const r = await run(['-k', file, ...TARGET]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^image-migrator config: TLS failure talking to https:\/\/127\.0\.0\.1:\d+ \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): its certificate is not trusted/,
    );
  });

  it('reports 401 for a rejected token without printing the token', async () => {
    const file = await kubeconfig('bad-token.yaml', kube.url, kube.pki.caCert, 'stale-token-9d8e7f');
    const r = await run(['-k', file, ...TARGET]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `image-migrator config: unauthorized (401) by ${kube.url}: the kubeconfig's credentials were not accepted (expired token or certificate?)\n`,
    );
    assert.ok(!r.stderr.includes('stale-token'));
  });

  it('requires -t and checks that it names a registry', async () => {
    const missing = await run(['-k', kube.kubeconfigPath]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr,
      'image-migrator config: -t/--repo: is required: the target registry/namespace, e.g. swr.example.com/team\n',
    );
    const bad = await run(['-k', kube.kubeconfigPath, '-t', 'team']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^image-migrator config: -t\/--repo: "team": must be registry\/namespace/);
  });

  it('stops when two sources would land on one destination and names both', async () => {
    const r = await run(['-k', kube.kubeconfigPath, '-n', 'etcd', ...TARGET]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'image-migrator config: gcr.io/etcd-development/etcd:3.5.0 and quay.io/coreos/etcd:3.5.0 would both be copied to ' +
        'registry.example.com/team/etcd:3.5.0; pass --keep-path to keep the full source path under the target (e.g. target/coreos/etcd)\n',
    );
    await assert.rejects(readFile(join(work, 'images.json')), { code: 'ENOENT' });
  });

  it('keeps them apart with --keep-path', async () => {
    const r = await run(['-k', kube.kubeconfigPath, '-n', 'etcd', ...TARGET, '--keep-path', '--stdout']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `{
    "gcr.io/etcd-development/etcd:3.5.0": "registry.example.com/team/etcd-development/etcd:3.5.0",
    "quay.io/coreos/etcd:3.5.0": "registry.example.com/team/coreos/etcd:3.5.0"
}
`,
    );
  });

  it('stops when a tag is used both pinned to a digest and unpinned', async () => {
    const r = await run(['-k', kube.kubeconfigPath, '-n', 'pinned', ...TARGET, '--keep-path']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `image-migrator config: docker.io/library/nginx:1.25 and docker.io/library/nginx:1.25@sha256:${'c3'.repeat(32)} ` +
        'would both be copied to registry.example.com/team/library/nginx:1.25; one names a digest and the other does not; ' +
        'pin both workloads to the same reference or write these rules by hand\n',
    );
  });

  it('refuses to write an empty images.json when no workload names an image', async () => {
    const r = await run(['-k', kube.kubeconfigPath, '-n', 'empty', ...TARGET]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `image-migrator config: ${kube.kubeconfigPath}: "token-ctx": found no workload images in namespaces empty; nothing written\n`,
    );
  });
});
