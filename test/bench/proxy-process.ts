/**
 * The counting proxies in a process of their own, started with `fork`. Every byte both tools move
 * passes through them; inside the bench's process, whose heap holds the workload's seeding and the
 * build, V8's garbage collection of the proxies' read buffers cost about 0.8 CPU s per cold run on
 * the same two cores as the tools measured, besides the relaying itself. In a process that holds
 * nothing else, a collection is cheap. The counts come back over the IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { KindCounts } from './request-kinds.js';

/** What a proxy counted since its last take. */
export interface ProxyTally {
  readonly counts: KindCounts;
  /** TCP connections accepted. */
  readonly connections: number;
  /** Body bytes through the proxy, both ways. */
  readonly bytes: number;
  /** 401 answers (auth challenges). */
  readonly challenges: number;
}

/** A counting proxy running in the proxy process. */
export interface RemoteProxy {
  /** "127.0.0.1:PORT": the address the tools are given instead of the registry's. */
  readonly host: string;
  readonly url: string;
  /** The counts since the last take; the proxy starts again from zero. */
  take(): Promise<ProxyTally>;
  stop(): Promise<void>;
}

/** The process that runs the proxies. */
export interface ProxyProcess {
  readonly pid: number;
  /** Starts a counting proxy in front of the registry at `targetUrl`. */
  proxy(targetUrl: string): Promise<RemoteProxy>;
  stop(): Promise<void>;
}

/** What the proxy process is asked to do. */
type ProxyOp = { readonly op: 'start'; readonly target: string } | { readonly op: 'take' | 'stop'; readonly host: string };

/** A message to the proxy process: an operation and the number its answer carries back. */
export type ProxyAsk = ProxyOp & { readonly id: number };

/** Its answer. */
export interface ProxyAnswer {
  readonly id: number;
  readonly host?: string;
  readonly tally?: ProxyTally;
  readonly error?: string;
}

/** Forks the proxy process (with this process's loader options, so that it runs TypeScript too). */
export async function startProxyProcess(): Promise<ProxyProcess> {
  const child: ChildProcess = fork(new URL('./proxy-child.ts', import.meta.url).pathname, [], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const waiting = new Map<number, { resolve: (a: ProxyAnswer) => void; reject: (e: Error) => void }>();
  child.on('message', (a: ProxyAnswer) => {
    const w = waiting.get(a.id);
    waiting.delete(a.id);
    if (a.error !== undefined) w?.reject(new Error(`proxy process: ${a.error}`));
    else w?.resolve(a);
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`proxy process exited (${signal ?? code})`));
    waiting.clear();
  });
  let next = 0;
  const ask = (message: ProxyOp): Promise<ProxyAnswer> =>
    new Promise((resolve, reject) => {
      next += 1;
      waiting.set(next, { resolve, reject });
      child.send({ ...message, id: next });
    });

  return {
    pid: child.pid ?? 0,
    async proxy(targetUrl) {
      const { host } = await ask({ op: 'start', target: targetUrl });
      if (host === undefined) throw new Error('proxy process: no address for the proxy');
      return {
        host,
        url: `http://${host}`,
        async take() {
          const { tally } = await ask({ op: 'take', host });
          if (tally === undefined) throw new Error('proxy process: no counts');
          return tally;
        },
        async stop() {
          await ask({ op: 'stop', host });
        },
      };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}
