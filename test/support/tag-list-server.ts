/**
 * A loopback server that speaks the distribution tag-list endpoint with `Link` pagination, for
 * repositories of any number of tags (a real registry with 500,000 tags would take hours to seed):
 * - `big/N`: N tags `t0` ... `t<N-1>`;
 * - `semver/N`: N semantic versions `0.0.0` ... (`<i div 1000>.<i mod 1000>.0`).
 * Pages hold `?n=` tags (all of them without `n`) and link to the next with `last=`, as distribution
 * does. Any other path answers 404 NAME_UNKNOWN.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The running server. */
export interface TagListServer {
  readonly server: Server;
  /** `127.0.0.1:PORT`, to use as a registry (insecure). */
  readonly host: string;
  /** Requests answered so far. */
  requests(): number;
  close(): Promise<void>;
}

const KINDS = {
  big: { tag: (i: number) => `t${i}`, index: (tag: string) => Number(tag.slice(1)) },
  semver: {
    tag: (i: number) => `${Math.floor(i / 1000)}.${i % 1000}.0`,
    index: (tag: string) => {
      const [major, minor] = tag.split('.').map(Number);
      return (major ?? 0) * 1000 + (minor ?? 0);
    },
  },
} as const;

/** Starts the server on a free loopback port. */
export function startTagListServer(): Promise<TagListServer> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const match = /^\/v2\/(big|semver)\/(\d+)\/tags\/list$/.exec(url.pathname);
    if (match === null) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
    const kind = KINDS[match[1] as keyof typeof KINDS];
    const total = Number(match[2]);
    const size = Number(url.searchParams.get('n') ?? total);
    const last = url.searchParams.get('last');
    const from = last === null ? 0 : kind.index(last) + 1;
    const to = Math.min(total, from + size);
    const tags: string[] = [];
    for (let i = from; i < to; i++) tags.push(kind.tag(i));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (to < total) headers.link = `</v2/${match[1]}/${total}/tags/list?n=${size}&last=${kind.tag(to - 1)}>; rel="next"`;
    res.writeHead(200, headers).end(JSON.stringify({ name: `${match[1]}/${total}`, tags }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve({
        server,
        host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests: () => requests,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    }),
  );
}
