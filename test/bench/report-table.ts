/**
 * The benchmark's printed output: the median run of each tool and phase over the rounds, every round's
 * wall times, and the targets, each "met" or "MISSED" with the figure it was judged on.
 */
import { KIND_LABELS, REQUEST_KINDS, perTagTotal, type KindCounts, type RequestKind } from './request-kinds.js';

/** The tools compared. */
export const TOOLS = { migrator: 'image-migrator', skopeo: 'skopeo' } as const;
/** A tool's name. */
export type ToolName = (typeof TOOLS)[keyof typeof TOOLS];

/**
 * cold: empty destination; warm: nothing changed, no run state; warm-state: nothing changed, with the
 * state the cold run left; immutable: nothing changed, every tag declared immutable; big: one image with
 * a very large layer into an empty destination (the memory check).
 */
export type Phase = 'cold' | 'warm' | 'warm-state' | 'immutable' | 'big';

/** The skopeo phase a phase of image-migrator is compared with (skopeo has neither state nor immutable tags). */
export function peerPhase(phase: Phase): Phase {
  return phase === 'warm-state' || phase === 'immutable' ? 'warm' : phase;
}

/** One measured run of one tool. */
export interface RunRow {
  readonly tool: ToolName;
  readonly phase: Phase;
  readonly round: number;
  /** Its wall time is in the medians: a run of the timed rounds (or the big layer's, which has no other). */
  readonly timed: boolean;
  /** Its requests, bytes, 401s and connections were counted at the proxies (zero otherwise). */
  readonly counted: boolean;
  readonly wallSeconds: number;
  /** Until the tool's first output line: start-up before any registry work. */
  readonly firstOutputSeconds: number | undefined;
  /** CPU seconds the host took away from this machine during the run (see Measured.stolenSeconds). */
  readonly stolenSeconds: number | undefined;
  readonly peakRssMb: number | undefined;
  readonly counts: KindCounts;
  /** 401 answers: auth challenges, left out of the request budget as the issue says. */
  readonly challenges: number;
  /** Body bytes through the proxies, both directions. */
  readonly bytes: number;
  /** TCP connections the tool opened to the registries (through the proxies). */
  readonly connections: number;
  /** Tags whose destination digest equals the source's after the run, and how many were checked. */
  readonly verifiedTags: number;
  readonly tagCount: number;
  readonly repositories: number;
  readonly ok: boolean;
  /** The run was killed at the bench's time limit (its wall time is then a lower bound). */
  readonly timedOut: boolean;
  readonly note: string;
}

/** One target and whether it holds. */
export interface TargetCheck {
  readonly name: string;
  readonly actual: string;
  readonly met: boolean;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/**
 * The timed run with the median wall time of each tool and phase (the lower middle for an even count),
 * with the requests, bytes, 401s and connections of the counted run of the same tool and phase.
 */
export function medianRows(rows: readonly RunRow[]): RunRow[] {
  const groups = new Map<string, RunRow[]>();
  for (const r of rows.filter((row) => row.timed)) {
    const key = `${r.tool} ${r.phase}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.wallSeconds - b.wallSeconds);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as RunRow;
    if (median.counted) return median;
    const counted = rows.find((r) => r.counted && r.tool === median.tool && r.phase === median.phase);
    if (counted === undefined) return median;
    const { counts, challenges, bytes, connections } = counted;
    return { ...median, counts: { ...counts, token: median.counts.token }, challenges, bytes, connections, counted: true };
  });
}

function ratio(rows: readonly RunRow[], row: RunRow): number | undefined {
  if (row.tool === TOOLS.skopeo && row.phase !== 'cold' && row.phase !== 'warm') return undefined;
  const peer = rows.find((r) => r.tool === TOOLS.skopeo && r.phase === peerPhase(row.phase));
  return peer === undefined || peer.wallSeconds === 0 ? undefined : row.wallSeconds / peer.wallSeconds;
}

/** Kinds shown as columns: every kind some run used, so empty columns do not crowd the table. */
function shownKinds(rows: readonly RunRow[]): RequestKind[] {
  return REQUEST_KINDS.filter((k) => rows.some((r) => r.counts[k] > 0));
}

/** Every request but tokens, TLS attempts and auth challenges. */
export function budgetRequests(row: RunRow): number {
  return REQUEST_KINDS.filter((k) => k !== 'token' && k !== 'tlsProbe').reduce((sum, k) => sum + row.counts[k], 0) - row.challenges;
}

/** The results table, one line per (median) run. */
export function formatTable(rows: readonly RunRow[]): string {
  const kinds = shownKinds(rows).filter((k) => k !== 'token');
  const head = [
    'tool'.padEnd(15),
    'run'.padEnd(10),
    pad('wall s', 7),
    pad('1st out', 7),
    pad('ratio', 6),
    pad('RSS MB', 7),
    ...kinds.map((k) => pad(KIND_LABELS[k], Math.max(5, KIND_LABELS[k].length))),
    pad('401', 4),
    pad('token', 5),
    pad('req/tag', 8),
    pad('MB', 6),
    pad('conns', 6),
    pad('digests', 9),
  ];
  const lines = [head.join(' ')];
  for (const row of rows) {
    const r = ratio(rows, row);
    lines.push(
      [
        row.tool.padEnd(15),
        row.phase.padEnd(10),
        pad(row.wallSeconds.toFixed(2), 7),
        pad(row.firstOutputSeconds === undefined ? '-' : row.firstOutputSeconds.toFixed(2), 7),
        pad(r === undefined ? '-' : `${r.toFixed(2)}x`, 6),
        pad(row.peakRssMb === undefined ? '?' : row.peakRssMb.toFixed(0), 7),
        ...kinds.map((k) => pad(String(row.counts[k]), Math.max(5, KIND_LABELS[k].length))),
        pad(String(row.challenges), 4),
        pad(String(row.counts.token), 5),
        pad((perTagTotal(row.counts) / row.tagCount).toFixed(2), 8),
        pad((row.bytes / 1024 / 1024).toFixed(0), 6),
        pad(String(row.connections), 6),
        pad(`${row.verifiedTags}/${row.tagCount}`, 9),
      ].join(' ') + (row.ok ? '' : `  FAILED: ${row.note}`),
    );
  }
  return lines.join('\n');
}

/**
 * Every timed round's wall time per tool and phase, so the spread behind each median is visible, with
 * the CPU time the host took away during the round when there was some (at least 0.05 s); and, after
 * a bar, the wall time of the counted run through the proxies, which is in no median.
 */
export function formatRounds(rows: readonly RunRow[]): string {
  const groups = new Map<string, string[]>();
  for (const r of rows) {
    const stolen = r.stolenSeconds !== undefined && r.stolenSeconds >= 0.05 ? ` (${r.stolenSeconds.toFixed(2)} stolen)` : '';
    const shown = `${r.timed ? '' : '| '}${r.wallSeconds.toFixed(2)}${stolen}`;
    groups.set(`${r.tool} ${r.phase}`, [...(groups.get(`${r.tool} ${r.phase}`) ?? []), shown]);
  }
  return [...groups].map(([key, walls]) => `  ${key.padEnd(26)} ${walls.join('  ')}`).join('\n');
}

/**
 * The two timed ratios of the issue round by round (each run of image-migrator over skopeo's run of
 * the same round), so that a median on its line can be told from one that sits there every round.
 */
export function formatRoundRatios(rows: readonly RunRow[]): string {
  const timed = rows.filter((r) => r.timed);
  const perRound = (phase: Phase): string => {
    const ratios = timed
      .filter((r) => r.tool === TOOLS.migrator && r.phase === phase)
      .map((r) => {
        const peer = timed.find((p) => p.tool === TOOLS.skopeo && p.phase === peerPhase(phase) && p.round === r.round);
        return peer === undefined || peer.wallSeconds === 0 ? '-' : `${(r.wallSeconds / peer.wallSeconds).toFixed(2)}x`;
      });
    return `  ${`${phase} / skopeo ${peerPhase(phase)}`.padEnd(26)} ${ratios.join('  ')}`;
  };
  return [perRound('cold'), perRound('warm-state')].join('\n');
}

/** The issue's targets, judged on the median rows (and on every run for tokens, memory and digests). */
export function checkTargets(medians: readonly RunRow[], all: readonly RunRow[]): TargetCheck[] {
  const find = (tool: ToolName, phase: Phase): RunRow | undefined => medians.find((r) => r.tool === tool && r.phase === phase);
  const checks: TargetCheck[] = [];
  const timed = (phase: Phase, limit: number): void => {
    const row = find(TOOLS.migrator, phase);
    const peer = find(TOOLS.skopeo, peerPhase(phase));
    const r = row === undefined ? undefined : ratio(medians, row);
    const name = `${phase} time <= ${limit}x skopeo ${peerPhase(phase)}`;
    if (r === undefined || row === undefined || peer === undefined) checks.push({ name, actual: 'not measured', met: false });
    else if (!row.ok) checks.push({ name, actual: `image-migrator's run failed: ${row.note}`, met: false });
    // skopeo stopped at the time limit took at least that long: the ratio is an upper bound.
    else if (!peer.ok && peer.timedOut) checks.push({ name, actual: `<= ${r.toFixed(2)}x (skopeo timed out)`, met: r <= limit });
    else if (!peer.ok) checks.push({ name, actual: `not measured: skopeo's run failed`, met: false });
    else checks.push({ name, actual: `${r.toFixed(2)}x`, met: r <= limit });
  };
  timed('cold', 0.5);
  timed('warm-state', 0.3);
  const state = find(TOOLS.migrator, 'warm-state');
  if (state !== undefined) {
    const manifests = state.counts.manifestGet + state.counts.manifestHead;
    checks.push({
      name: 'warm-state <= 1 manifest request a tag',
      actual: `${(manifests / state.tagCount).toFixed(2)} (${manifests} for ${state.tagCount} tags)`,
      met: manifests <= state.tagCount,
    });
    const budget = state.tagCount + 2 * state.repositories;
    checks.push({
      name: 'warm-state <= N + 2R requests',
      actual: `${budgetRequests(state)} <= ${budget} (${state.challenges} auth challenges aside)`,
      met: budgetRequests(state) <= budget,
    });
    const blobs =
      state.counts.blobHead +
      state.counts.blobGet +
      state.counts.blobPut +
      state.counts.uploadPost +
      state.counts.mount +
      state.counts.uploadPatch;
    checks.push({ name: 'warm-state: no blob request', actual: String(blobs), met: blobs === 0 });
  }
  const immutable = find(TOOLS.migrator, 'immutable');
  if (immutable !== undefined) {
    const perTag = perTagTotal(immutable.counts);
    checks.push({
      name: 'immutable: no per-tag request',
      actual: `${perTag} besides ${immutable.counts.tagList} tag lists`,
      met: perTag === 0,
    });
  }
  const migrator = all.filter((r) => r.tool === TOOLS.migrator);
  const tokens = Math.max(0, ...migrator.map((r) => r.counts.token));
  checks.push({
    name: 'tokens <= 1 per registry and run',
    actual: `at most ${tokens} (token registry: the destination)`,
    met: migrator.length > 0 && tokens <= 1,
  });
  const rss = migrator.map((r) => r.peakRssMb);
  const peak = rss.some((m) => m === undefined) || rss.length === 0 ? undefined : Math.max(...(rss as number[]));
  const big = migrator.find((r) => r.phase === 'big');
  checks.push({
    name: `peak RSS <= 150 MB${big === undefined ? '' : ' (incl. the big layer)'}`,
    actual:
      peak === undefined
        ? 'not measured'
        : `${peak.toFixed(0)} MB${big?.peakRssMb === undefined ? '' : `; big layer run ${big.peakRssMb.toFixed(0)} MB`}`,
    met: peak !== undefined && peak <= 150,
  });
  checks.push({
    name: 'every run keeps the source digests',
    actual: `${migrator.filter((r) => r.ok && r.verifiedTags === r.tagCount).length}/${migrator.length} runs`,
    met: migrator.length > 0 && migrator.every((r) => r.ok && r.verifiedTags === r.tagCount),
  });
  return checks;
}

/** The targets as lines, with MISSED in capitals so a missed target cannot be overlooked. */
export function formatTargets(checks: readonly TargetCheck[]): string {
  return checks.map((c) => `  ${c.met ? 'met   ' : 'MISSED'}  ${c.name.padEnd(40)} ${c.actual}`).join('\n');
}
