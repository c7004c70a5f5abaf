/**
 * A second loopback host (127.0.0.2) standing in for object storage behind a registry's blob redirect:
 * it serves blobs straight from the registry's storage directory and records whether each request
 * carried an Authorization header (which a client must not forward to another host).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A running blob host. */
export interface BlobHost {
  /** "http://127.0.0.2:PORT" */
  readonly url: string;
  /** every request: path with query, and whether it had an Authorization header */
  readonly requests: { path: string; authorization: boolean }[];
  stop(): Promise<void>;
}

/** Where distribution's filesystem driver keeps a blob's bytes. */
export function blobDataPath(dataDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return join(dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** Starts the blob host for a registry storing under `dataDir`. */
export async function startBlobHost(dataDir: string, host = '127.0.0.2'): Promise<BlobHost> {
  const requests: { path: string; authorization: boolean }[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    requests.push({ path, authorization: req.headers.authorization !== undefined });
    const match = /^\/blobs\/(sha256:[0-9a-f]{64})(\?|$)/.exec(path);
    if (match === null || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const file = blobDataPath(dataDir, match[1] ?? '');
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(info.size) });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).on('error', () => res.destroy()).pipe(res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
  return {
    url: `http://${host}:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
