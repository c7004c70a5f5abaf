/**
 * An HTTP proxy of the tests that only tunnels (`CONNECT host:port`), to loopback targets only, and
 * records every target it was asked for.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/** A running proxy. */
export interface ConnectProxy {
  readonly url: string;
  readonly tunnels: string[];
  stop(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1; `resolve` maps a requested host:port to where it really is. */
export async function startConnectProxy(
  resolve: (host: string, port: number) => { host: string; port: number } = (host, port) => ({ host, port }),
): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end('CONNECT only'));
  server.on('connect', (req, client, head) => {
    const [host = '', portText = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    tunnels.push(req.url ?? '');
    const target = resolve(host, Number(portText));
    if (!/^127\.|^localhost$/.test(target.host)) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    sockets.add(client as import('node:net').Socket);
    const upstream = connect(target.port, target.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    stop: () =>
      new Promise<void>((r) => {
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
