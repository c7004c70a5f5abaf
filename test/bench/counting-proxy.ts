/**
 * A pass-through HTTP proxy in front of one registry that counts every request by kind. Both tools
 * talk to the registry only through it, so their requests are counted the same way.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { bodyFraming, HttpFraming } from './http-framing.js';
import { classify, emptyCounts, type KindCounts } from './request-kinds.js';
import { traceRequest, traceStart, tracing } from './trace.js';

/** A running counting proxy. */
export interface CountingProxy {
  /** "127.0.0.1:PORT": the address the tools are given instead of the registry's. */
  readonly host: string;
  readonly url: string;
  /** Counts since the last {@link CountingProxy.take}. */
  readonly counts: KindCounts;
  /** TCP connections accepted since the last {@link CountingProxy.take}: how well keep-alive is used. */
  readonly connections: number;
  /** Body bytes through the proxy (uploads and downloads) since the last {@link CountingProxy.take}. */
  readonly bytes: number;
  /** 401 answers (auth challenges) since the last {@link CountingProxy.take}. */
  readonly challenges: number;
  /** Returns the counts so far and starts again from zero (connections, bytes and challenges too). */
  take(): KindCounts;
  stop(): Promise<void>;
}

/** A request seen on a connection, waiting for its answer. */
interface Asked {
  readonly method: string;
  readonly path: string;
  readonly start: string;
}

/**
 * Starts a proxy for the registry at `targetUrl`. It passes each connection's bytes through as they
 * come, on a connection of its own to the registry, and reads only where each request and answer
 * begins and ends (see http-framing.ts): node:http's parsing and re-framing cost 2.5-3 CPU seconds a
 * GiB here, more than the registries, on the same two cores as the tools it measures; this costs
 * about 0.2. The client's `Host` header reaches the registry unchanged, so distribution builds its
 * upload `Location` URLs on the proxy and uploads stay on it.
 */
export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  let counts = emptyCounts();
  let connections = 0;
  let bytes = 0;
  let challenges = 0;
  const sockets = new Set<Socket>();

  /** BENCH_DELAY_MS: each answer waits this long before it goes back, as from a registry far away. */
  const delayMs = Number(process.env.BENCH_DELAY_MS ?? 0);

  const relay = (client: Socket): void => {
    connections += 1;
    const number = connections;
    const upstream = connect({ host: target.hostname, port: Number(target.port), allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on('error', () => undefined);
    }
    const asked: Asked[] = [];
    let answering: (Asked & { status: number }) | undefined;
    /** True when the bytes just read hold the head of an answer (BENCH_DELAY_MS holds them back). */
    let answerBegan = false;
    const requests = new HttpFraming({
      head: (text) => {
        const [method = 'GET', path = '/'] = text.slice(0, text.indexOf('\r\n')).split(' ');
        counts[classify(method, path)] += 1;
        asked.push({ method, path, start: tracing ? traceStart() : '' });
        // A request without a length has no body (RFC 9112).
        return bodyFraming(text, { length: 0 });
      },
      body: (n) => void (bytes += n),
      end: () => undefined,
    });
    const answers = new HttpFraming({
      head: (text) => {
        const status = Number(text.slice(9, 12));
        // An interim answer (100 Continue) belongs to the request still waiting for its final one.
        if (status >= 100 && status < 200) return { length: 0 };
        const request = asked.shift() ?? { method: 'GET', path: '', start: '' };
        answering = { ...request, status };
        answerBegan = true;
        if (status === 401) challenges += 1;
        if (request.method === 'HEAD' || status === 204 || status === 304) return { length: 0 };
        return bodyFraming(text, 'until-close');
      },
      body: (n) => void (bytes += n),
      end: () => {
        if (tracing && answering !== undefined)
          traceRequest(answering.start, port, number, answering.method, answering.path, answering.status);
        answering = undefined;
      },
    });

    let first = true;
    client.on('data', (chunk: Buffer) => {
      // A client that tries HTTPS first (skopeo with --tls-verify=false) sends a TLS hello to this
      // plain port (0x16 opens a handshake record): counted so the probe shows, and refused.
      if (first && chunk[0] === 0x16) {
        counts.tlsProbe += 1;
        client.destroy();
        return;
      }
      first = false;
      requests.push(chunk);
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('end', () => upstream.end());
    /** True while an answer's first bytes wait out BENCH_DELAY_MS: the connection's drain must not resume it. */
    let held = false;
    /** The registry closed its side while an answer was held: the client's side closes once it is passed on. */
    let endWhenPassed = false;
    upstream.on('data', (chunk: Buffer) => {
      answerBegan = false;
      answers.push(chunk);
      if (delayMs > 0 && answerBegan) {
        held = true;
        upstream.pause();
        setTimeout(() => {
          held = false;
          if (endWhenPassed) client.end(chunk);
          else if (client.write(chunk)) upstream.resume();
        }, delayMs);
      } else if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => void (held || upstream.resume()));
    upstream.on('end', () => {
      answers.close();
      // A registry that closes after its answer (`Connection: close`) may do so while the answer is held.
      if (held) endWhenPassed = true;
      else client.end();
    });
  };

  const server = createServer({ allowHalfOpen: true }, relay);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    get counts() {
      return counts;
    },
    get connections() {
      return connections;
    },
    get bytes() {
      return bytes;
    },
    get challenges() {
      return challenges;
    },
    take() {
      const taken = counts;
      counts = emptyCounts();
      connections = 0;
      bytes = 0;
      challenges = 0;
      return taken;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
