/**
 * An HTTPS front for a plain-HTTP server of the tests (a docker-registry, a token server): TLS with a
 * certificate of the tests' CA, optionally requiring a client certificate of that CA. The Host header
 * is kept and `X-Forwarded-Proto: https` added, so the registry's absolute Location URLs point back
 * at the front. Extra response headers can be added per request (rate-limit headers).
 */
import { request, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IssuedCert } from './test-pki.js';

/** A running front. */
export interface TlsFront {
  readonly port: number;
  /** "127.0.0.1:PORT" */
  readonly host: string;
  /** Client certificates' subjects seen (CN), one per request. */
  readonly clients: (string | undefined)[];
  stop(): Promise<void>;
}

/** Options of a front. */
export interface TlsFrontOptions {
  readonly target: string;
  readonly certificate: IssuedCert;
  /** When set, a client certificate signed by this CA is required. */
  readonly clientCa?: string;
  readonly extraHeaders?: (req: IncomingMessage) => Record<string, string>;
  /**
   * A request in plain HTTP gets `400 Bad Request`, as Go's and nginx's TLS servers answer one (by
   * default Node's: the connection is closed without an answer).
   */
  readonly answerPlainHttp?: boolean;
}

/** Starts a front on 127.0.0.1. */
export async function startTlsFront(options: TlsFrontOptions): Promise<TlsFront> {
  const target = new URL(options.target);
  const clients: (string | undefined)[] = [];
  const server: Server = createServer(
    {
      cert: options.certificate.cert,
      key: options.certificate.key,
      ...(options.clientCa === undefined ? {} : { ca: options.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate?.();
      const cn = peer && 'subject' in peer ? peer.subject?.CN : undefined;
      clients.push(Array.isArray(cn) ? cn[0] : cn);
      const upstream = request(
        new URL(req.url ?? '/', target),
        { method: req.method, headers: { ...req.headers, 'x-forwarded-proto': 'https' } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, { ...up.headers, ...options.extraHeaders?.(req) });
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    },
  );
  // A TLS connection opens with a handshake record (0x16); anything else is a plain-HTTP request.
  const listener: NetServer | Server =
    options.answerPlainHttp === true
      ? createNetServer((socket) =>
          socket.once('data', (first: Buffer) => {
            socket.pause();
            socket.unshift(first);
            if (first[0] === 0x16) server.emit('connection', socket);
            else socket.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n');
          }),
        )
      : server;
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as AddressInfo).port;
  return {
    port,
    host: `127.0.0.1:${port}`,
    clients,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        if (listener !== server) listener.close();
        server.close(() => resolve());
      }),
  };
}
