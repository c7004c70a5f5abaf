/**
 * A local run lists an all-tags rule's destination alongside its source, and HEADs only the tags the
 * destination already has; real registries on loopback (anonymous source, token-auth destination).
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseImagesFile } from '../../shared/config/images-file.js';
import { runLocal } from '../../shared/pipeline/local-run.js';
import { RegistryClient } from '../../shared/registry/client.js';
import { startRegistry, type TestRegistry } from '../support/registries.js';
import { getManifestDigest, pushImage } from '../support/seed.js';

describe('local run with destination tag lists', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
  });
  after(async () => {
    await Promise.all([src, dst].map((r) => r?.stop()));
  });

  async function migrate(): Promise<{ requests: Record<string, number>; outcomes: string[] }> {
    const requests: Record<string, number> = {};
    const client = new RegistryClient({
      credentials: {
        lookup: (registry) => ({ insecure: true, ...(registry === dst.host ? { username: dst.username, password: dst.password } : {}) }),
      },
      onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1),
    });
    const rules = parseImagesFile(JSON.stringify({ [`${src.host}/team/app`]: `${dst.host}/mirror/app` }), 'images.json', {});
    const run = await runLocal({ rules, registry: client, workers: 3, retries: 0 });
    await client.close();
    return { requests, outcomes: run.results.map((r) => `${r.destination.split('/').pop()} ${r.outcome}`).sort() };
  }

  it('copies into an empty repository without a single manifest HEAD, with the source digests', async () => {
    const tags = ['v1', 'v2', 'v3'];
    const images = await Promise.all(tags.map((tag) => pushImage(src, 'team/app', tag)));
    const run = await migrate();
    assert.deepEqual(run.outcomes, ['app:v1 copied', 'app:v2 copied', 'app:v3 copied']);
    for (const [i, tag] of tags.entries()) assert.equal(await getManifestDigest(dst, 'mirror/app', tag), images[i]?.digest);
    // The destination's listing (NAME_UNKNOWN: no repository yet) says no tag is there to compare,
    // and no blob either: each is uploaded without a HEAD first.
    assert.equal(run.requests['manifest-head'] ?? 0, 0);
    assert.equal(run.requests['blob-head'] ?? 0, 0);
    assert.ok((run.requests['blob-put'] ?? 0) > 0);
  });

  it('HEADs only the tags the destination lists', async () => {
    await pushImage(src, 'team/app', 'v4');
    const run = await migrate();
    assert.deepEqual(run.outcomes, ['app:v1 up-to-date', 'app:v2 up-to-date', 'app:v3 up-to-date', 'app:v4 copied']);
    assert.equal(run.requests['manifest-head'], 3);
    // The repository exists now: v4's blobs are asked about before any upload (the shared ones are there).
    assert.ok((run.requests['blob-head'] ?? 0) >= 2);
    // Source and destination each listed once, plus the destination's first request again after its
    // challenge, and one https attempt per registry (both are plain-http `insecure` registries).
    assert.equal(run.requests['tag-list'], 2 + 1 + 2);
  });

  it('closes its account when it returns: a listing still under way for a rule that came to nothing tells nothing afterwards', async () => {
    // The destination holds its tag list request until the run has returned, then refuses it; the
    // source refuses its own (both 403 DENIED, not worth a retry) once the destination's is held.
    const denied = (res: ServerResponse, done?: () => void): void => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'refused' }] }), done);
    };
    let answerDestination: (() => void) | undefined;
    let destinationHeld!: () => void;
    const held = new Promise<void>((resolve) => (destinationHeld = resolve));
    let answered!: () => void;
    const destinationAnswered = new Promise<void>((resolve) => (answered = resolve));
    const destination = createServer((_req, res) => {
      answerDestination = () => denied(res, answered);
      destinationHeld();
    });
    const source = createServer((_req, res) => void held.then(() => denied(res)));
    const servers = [source, destination];
    const hosts = await Promise.all(
      servers.map(async (server) => {
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return `127.0.0.1:${(server.address() as AddressInfo).port}`;
      }),
    );
    const client = new RegistryClient({ credentials: { lookup: () => ({ insecure: true }) }, retry: { attempts: 1 } });
    try {
      const rules = parseImagesFile(JSON.stringify({ [`${hosts[0]}/team/app`]: `${hosts[1]}/mirror/app` }), 'images.json', {});
      const events: string[] = [];
      let returned = false;
      const run = await runLocal({
        rules,
        registry: client,
        workers: 1,
        retries: 0,
        onEvent: (event) => events.push(`${returned ? 'after' : 'before'} ${event.type}`),
      });
      returned = true;
      assert.equal(run.counts.generateFailed, 1);
      assert.ok(answerDestination, 'the destination listing is under way');
      answerDestination();
      await destinationAnswered;
      // Long enough for the refusal to travel back and be handled.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(events, ['before planned']);
      assert.deepEqual(run.untaskedRetries, {});
    } finally {
      await client.close();
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });
});
