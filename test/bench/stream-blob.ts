/**
 * `npx tsx test/bench/stream-blob.ts`: the tool's CPU for streaming one large blob from a source
 * registry into a destination's upload, the hot path of a cold copy, without the rest of a run. One
 * image with a single layer (STREAM_MIB, default 256 MiB) is copied ROUNDS times (default 3) into a
 * fresh repository, once in one PUT and once as a resumable upload in chunks, and each copy prints
 * its wall time, this process's user+system CPU (the registries are other processes), the CPU per
 * GiB, and the requests it made. STREAM_CHUNK_MIB fixes the chunk size (default: the tool's policy).
 * STREAM_PROFILE=FILE writes a CPU profile (.cpuprofile) of the rounds after the first (warm code).
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { RegistryClient } from '../../shared/registry/client.js';
import { DEFAULT_UPLOAD_SETTINGS } from '../../shared/copy/chunked-upload.js';
import { ImageCopier } from '../../shared/copy/image-copier.js';
import { startRegistry } from '../support/registries.js';
import { pushImage, randomBytes } from '../support/seed.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.STREAM_MIB ?? 256) * MiB;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CHUNK = process.env.STREAM_CHUNK_MIB === undefined ? undefined : Number(process.env.STREAM_CHUNK_MIB) * MiB;
const PROFILE = process.env.STREAM_PROFILE;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

const [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
try {
  await pushImage(src, 'stream/big', 'v1', { layers: [randomBytes(SIZE, 256)] });
  const modes = [
    { name: 'one PUT', uploads: { ...DEFAULT_UPLOAD_SETTINGS, resumableAbove: Number.MAX_SAFE_INTEGER } },
    {
      name: 'chunked',
      uploads: { ...DEFAULT_UPLOAD_SETTINGS, resumableAbove: 0, ...(CHUNK === undefined ? {} : { chunkSize: CHUNK, maxChunkSize: CHUNK }) },
    },
  ];
  const profiler = PROFILE === undefined ? undefined : new Session();
  profiler?.connect();
  await profiler?.post('Profiler.enable');
  for (let round = 1; round <= ROUNDS; round++) {
    if (round === 2) await profiler?.post('Profiler.start');
    for (const mode of modes) {
      const requests: Record<string, number> = {};
      const client = new RegistryClient({
        credentials: { lookup: () => ({ insecure: true }) },
        onRequest: (kind) => void (requests[kind] = (requests[kind] ?? 0) + 1),
      });
      const copier = new ImageCopier(client, { uploads: mode.uploads });
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      await copier.copy({
        source: `${src.host}/stream/big:v1`,
        destination: `${dst.host}/stream/r${round}-${mode.name.replace(' ', '-').toLowerCase()}:v1`,
      });
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const used = process.cpuUsage(cpu);
      await client.close();
      const seconds = (used.user + used.system) / 1e6;
      log(
        `${`round ${round} ${mode.name}`.padEnd(18)} ${wall.toFixed(2)} s, cpu ${(used.user / 1e6).toFixed(2)}u+${(used.system / 1e6).toFixed(2)}s = ${seconds.toFixed(2)} s (${(seconds / (SIZE / 1024 / MiB)).toFixed(2)} s/GiB); requests ${JSON.stringify(requests)}`,
      );
    }
  }
  if (profiler !== undefined && PROFILE !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    await writeFile(PROFILE, JSON.stringify(profile));
    profiler.disconnect();
  }
} finally {
  await Promise.all([src.stop(), dst.stop()]);
}
