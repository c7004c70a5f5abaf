/**
 * ECR logins without a network: which hosts are ECR, when a cached token is replaced, and how the
 * credential chain hands out ECR and ECR Public logins.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ECRPUBLICClient } from '@aws-sdk/client-ecr-public';
import { parseAuthFile } from '../../shared/config/auth-file.js';
import { CredentialChain, ecrTargetOf } from '../../shared/credential-sources/credential-chain.js';
import { EcrAccess, refreshAt, type EcrClients } from '../../shared/credential-sources/ecr-access.js';
import { parseEcrHost } from '../../shared/credential-sources/ecr-host.js';
import { authFileSource } from '../../shared/credential-sources/login-sources.js';

function fakeClients(now: () => number, lifetimeMs: number): { clients: EcrClients; sent: string[] } {
  const sent: string[] = [];
  let n = 0;
  const answer = (command: { constructor: { name: string } }, publicApi: boolean) => {
    const name = command.constructor.name;
    sent.push(`${publicApi ? 'public:' : ''}${name}`);
    const data = { authorizationToken: Buffer.from(`AWS:token-${++n}`).toString('base64'), expiresAt: new Date(now() + lifetimeMs) };
    return Promise.resolve(publicApi ? { authorizationData: data } : { authorizationData: [data] });
  };
  return {
    sent,
    clients: {
      private: async () => ({ send: (c: never) => answer(c, false) }) as unknown as ECRClient,
      public: async () => ({ send: (c: never) => answer(c, true) }) as unknown as ECRPUBLICClient,
    },
  };
}

describe('ECR hosts', () => {
  it('knows private registries by their host names, with account and region', () => {
    assert.deepEqual(parseEcrHost('123456789012.dkr.ecr.eu-west-1.amazonaws.com'), { account: '123456789012', region: 'eu-west-1' });
    assert.deepEqual(parseEcrHost('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'), { account: '123456789012', region: 'cn-north-1' });
    assert.deepEqual(parseEcrHost('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com'), {
      account: '123456789012',
      region: 'us-gov-west-1',
    });
    assert.deepEqual(parseEcrHost('123456789012.dkr-ecr.us-east-1.on.aws'), { account: '123456789012', region: 'us-east-1' });
    assert.equal(parseEcrHost('ecr.example.com'), undefined);
    assert.equal(parseEcrHost('12345.dkr.ecr.eu-west-1.amazonaws.com'), undefined);
  });

  it('uses IAM only for entries without a login; any host opts in with "ecr"', () => {
    const ecrHost = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
    assert.deepEqual(ecrTargetOf(ecrHost, { insecure: false }), { region: 'eu-west-1', public: false, account: '123456789012' });
    assert.equal(ecrTargetOf(ecrHost, { insecure: false, username: 'AWS', password: 'x' }), undefined);
    assert.deepEqual(ecrTargetOf('vpce.example.com', { insecure: false, ecr: { region: 'ap-south-1' } }), {
      region: 'ap-south-1',
      public: false,
      account: undefined,
    });
    assert.deepEqual(ecrTargetOf('public.ecr.aws', { insecure: false }), { region: 'us-east-1', public: true });
    assert.equal(ecrTargetOf('quay.io', { insecure: false }), undefined);
  });
});

describe('ECR tokens', () => {
  it('replaces a token shortly before it expires: 5 minutes, or a fifth of a shorter lifetime', () => {
    assert.equal(refreshAt(0, 12 * 3600_000), 12 * 3600_000 - 300_000);
    assert.equal(refreshAt(0, 10_000), 8_000);
  });

  it('caches a token until then and fetches a new one after', async () => {
    let clock = 1_000_000;
    const { clients, sent } = fakeClients(() => clock, 12 * 3600_000);
    const access = new EcrAccess({ clients, now: () => clock });
    const target = { region: 'eu-west-1', public: false };
    const first = await access.login('r.example', target);
    assert.deepEqual(await Promise.all([access.login('r.example', target), access.login('r.example', target)]), [first, first]);
    clock += 12 * 3600_000 - 301_000;
    assert.equal((await access.login('r.example', target)).password, 'token-1');
    clock += 2_000;
    assert.equal((await access.login('r.example', target)).password, 'token-2');
    assert.deepEqual(sent, ['GetAuthorizationTokenCommand', 'GetAuthorizationTokenCommand']);
  });

  it('renews a refused token once, however many requests saw it refused', async () => {
    const { clients, sent } = fakeClients(Date.now, 12 * 3600_000);
    const access = new EcrAccess({ clients });
    const target = { region: 'eu-west-1', public: false };
    const first = await access.login('r.example', target);
    const renewed = await Promise.all([1, 2, 3].map(() => access.renew('r.example', target, first.password)));
    assert.deepEqual(new Set(renewed.map((l) => l.password)), new Set(['token-2']));
    assert.equal(sent.length, 2);
  });
});

describe('the credential chain with ECR', () => {
  it('pulls from ECR Public anonymously and pushes with an ECR Public token', async () => {
    const { clients, sent } = fakeClients(Date.now, 12 * 3600_000);
    const served: string[] = [];
    const chain = new CredentialChain({ sources: [], ecr: new EcrAccess({ clients }), onServed: (r, via) => served.push(`${r}: ${via}`) });
    assert.deepEqual(await chain.lookup('public.ecr.aws', 'docker/library/nginx', 'pull'), { insecure: false });
    assert.deepEqual(await chain.lookup('public.ecr.aws', 'team/app', 'push'), { username: 'AWS', password: 'token-1', insecure: false });
    assert.deepEqual(sent, ['public:GetAuthorizationTokenCommand']);
    assert.deepEqual(served, ['public.ecr.aws: no entry (anonymous)', 'public.ecr.aws: ECR Public GetAuthorizationToken in us-east-1']);
  });

  it('keeps an auth.json login for an ECR host as written and never asks ECR for it', async () => {
    const { clients, sent } = fakeClients(Date.now, 12 * 3600_000);
    const host = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
    const file = parseAuthFile(JSON.stringify({ [host]: { username: 'AWS', password: 'from-get-login-password' } }), 'auth.json', {});
    const chain = new CredentialChain({ sources: [authFileSource(file, 'auth.json')], ecr: new EcrAccess({ clients }) });
    assert.equal((await chain.lookup(host, 'team/app', 'write')).password, 'from-get-login-password');
    assert.deepEqual(sent, []);
  });
});
