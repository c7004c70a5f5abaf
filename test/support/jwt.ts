/**
 * ES256 JSON Web Tokens the way distribution 2.8 verifies them: the signing certificate travels in the
 * `x5c` header and is checked against the registry's `rootcertbundle`.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HarnessError } from './harness-error.js';

const run = promisify(execFile);

/** A self-signed P-256 certificate and its key. */
export interface SigningIdentity {
  /** PEM of the certificate: the registry's `rootcertbundle`. */
  readonly certificatePem: string;
  /** base64 DER of the certificate: the JWT `x5c` entry. */
  readonly certificateDer: string;
  readonly key: KeyObject;
}

/** Makes a fresh self-signed EC P-256 certificate with openssl (node:crypto cannot issue certificates). */
export async function createSigningIdentity(commonName: string): Promise<SigningIdentity> {
  const dir = await mkdtemp(join(tmpdir(), 'im-jwt-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
    ]).catch((cause: unknown) => {
      throw new HarnessError('openssl could not create the token signing certificate', { cause });
    });
    const certificatePem = await readFile(certPath, 'utf8');
    const key = createPrivateKey(await readFile(keyPath, 'utf8'));
    const certificateDer = certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    return { certificatePem, certificateDer, key };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Signs `claims` as a compact JWS. ES256 signatures are raw r||s (IEEE P1363), not DER. */
export function signJwt(identity: SigningIdentity, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [identity.certificateDer] };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: identity.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}
