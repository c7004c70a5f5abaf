/**
 * The process that runs the bench's counting proxies (see proxy-process.ts): it starts one on request
 * of its parent, and answers with a proxy's counts or stops it, over the IPC channel of `fork`.
 */
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import type { ProxyAnswer, ProxyAsk } from './proxy-process.js';

const proxies = new Map<string, CountingProxy>();

const answer = (message: ProxyAnswer): void => void process.send?.(message);

async function handle(ask: ProxyAsk): Promise<ProxyAnswer> {
  if (ask.op === 'start') {
    const proxy = await startCountingProxy(ask.target);
    proxies.set(proxy.host, proxy);
    return { id: ask.id, host: proxy.host };
  }
  const proxy = proxies.get(ask.host);
  if (proxy === undefined) return { id: ask.id, error: `no proxy at ${ask.host}` };
  if (ask.op === 'take') {
    const tally = { connections: proxy.connections, bytes: proxy.bytes, challenges: proxy.challenges, counts: proxy.take() };
    return { id: ask.id, tally };
  }
  proxies.delete(ask.host);
  await proxy.stop();
  return { id: ask.id };
}

process.on('message', (ask: ProxyAsk) => {
  handle(ask).then(answer, (error: unknown) => answer({ id: ask.id, error: String(error) }));
});
// The parent gone, so is this process.
process.on('disconnect', () => process.exit(0));
