/**
 * The benchmark's printed output: one row per tool and run, and the targets, each "met" or
 * "MISSED" with the figure it was judged on.
 */
import { KIND_LABELS, REQUEST_KINDS, perTagTotal, type KindCounts, type RequestKind } from './request-kinds.js';

/** The tools compared. */
export const TOOLS = { migrator: 'image-migrator', skopeo: 'skopeo' } as const;
/** A tool's name. */
export type ToolName = (typeof TOOLS)[keyof typeof TOOLS];

/** One measured run of one tool. */
export interface RunRow {
  readonly tool: ToolName;
  readonly phase: 'cold' | 'warm';
  readonly wallSeconds: number;
  /** Until the tool's first output line: start-up before any registry work. */
  readonly firstOutputSeconds: number | undefined;
  readonly peakRssMb: number | undefined;
  readonly counts: KindCounts;
  /** TCP connections the tool opened to the registries (through the proxies). */
  readonly connections: number;
  /** Tags whose destination digest equals the source's after the run. */
  readonly verifiedTags: number;
  readonly ok: boolean;
  readonly note: string;
}

/** One target of the issue and whether it holds. */
export interface TargetCheck {
  readonly name: string;
  readonly actual: string;
  readonly met: boolean;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function ratio(rows: readonly RunRow[], row: RunRow): number | undefined {
  const peer = rows.find((r) => r.tool === TOOLS.skopeo && r.phase === row.phase);
  return peer === undefined || peer.wallSeconds === 0 ? undefined : row.wallSeconds / peer.wallSeconds;
}

/** Kinds shown as columns: every kind some run used, so empty columns do not crowd the table. */
function shownKinds(rows: readonly RunRow[]): RequestKind[] {
  return REQUEST_KINDS.filter((k) => rows.some((r) => r.counts[k] > 0));
}

/** The results table, one line per run. */
export function formatTable(rows: readonly RunRow[], tagCount: number): string {
  const kinds = shownKinds(rows);
  const head = ['tool'.padEnd(15), 'run '.padEnd(5), pad('wall s', 7), pad('1st out', 7), pad('ratio', 6), pad('RSS MB', 7),
    ...kinds.map((k) => pad(KIND_LABELS[k], Math.max(5, KIND_LABELS[k].length))), pad('req/tag', 8), pad('conns', 6), pad('digests', 8)];
  const lines = [head.join(' ')];
  for (const row of rows) {
    const r = ratio(rows, row);
    lines.push([
      row.tool.padEnd(15), row.phase.padEnd(5), pad(row.wallSeconds.toFixed(2), 7),
      pad(row.firstOutputSeconds === undefined ? '-' : row.firstOutputSeconds.toFixed(2), 7),
      pad(r === undefined ? '-' : `${r.toFixed(2)}x`, 6),
      pad(row.peakRssMb === undefined ? '?' : row.peakRssMb.toFixed(0), 7),
      ...kinds.map((k) => pad(String(row.counts[k]), Math.max(5, KIND_LABELS[k].length))),
      pad((perTagTotal(row.counts) / tagCount).toFixed(2), 8),
      pad(String(row.connections), 6),
      pad(`${row.verifiedTags}/${tagCount}`, 8),
    ].join(' ') + (row.ok ? '' : `  FAILED: ${row.note}`));
  }
  return lines.join('\n');
}

/** The targets, judged on the rows. */
export function checkTargets(rows: readonly RunRow[], tagCount: number): TargetCheck[] {
  const find = (tool: ToolName, phase: 'cold' | 'warm'): RunRow | undefined => rows.find((r) => r.tool === tool && r.phase === phase);
  const checks: TargetCheck[] = [];
  for (const [phase, limit] of [['cold', 0.6], ['warm', 0.5]] as const) {
    const row = find(TOOLS.migrator, phase);
    const r = row === undefined ? undefined : ratio(rows, row);
    checks.push({ name: `${phase} time <= ${limit}x skopeo`, actual: r === undefined ? 'not measured' : `${r.toFixed(2)}x`, met: r !== undefined && r <= limit });
  }
  const warm = find(TOOLS.migrator, 'warm');
  const perTag = warm === undefined ? undefined : perTagTotal(warm.counts) / tagCount;
  // Pings count: they are registry requests. They are shown apart because they are per registry, not per tag.
  const pings = warm === undefined ? '' : ` (${warm.counts.ping} of them /v2/ pings: ${((perTagTotal(warm.counts) - warm.counts.ping) / tagCount).toFixed(2)} without)`;
  checks.push({ name: 'warm <= 2 registry requests per tag', actual: perTag === undefined ? 'not measured' : `${perTag.toFixed(2)}${pings}`, met: perTag !== undefined && perTag <= 2 });
  checks.push({ name: 'warm: 0 blob GETs', actual: warm === undefined ? 'not measured' : String(warm.counts.blobGet), met: warm !== undefined && warm.counts.blobGet === 0 });
  const rss = rows.filter((r) => r.tool === TOOLS.migrator).map((r) => r.peakRssMb);
  const peak = rss.some((m) => m === undefined) || rss.length === 0 ? undefined : Math.max(...(rss as number[]));
  checks.push({ name: 'peak RSS <= 150 MB', actual: peak === undefined ? 'not measured' : `${peak.toFixed(0)} MB`, met: peak !== undefined && peak <= 150 });
  const all = rows.filter((r) => r.tool === TOOLS.migrator);
  checks.push({ name: 'every copy keeps the source digests', actual: all.map((r) => `${r.phase} ${r.verifiedTags}/${tagCount}`).join(', '), met: all.length > 0 && all.every((r) => r.ok && r.verifiedTags === tagCount) });
  return checks;
}

/** The targets as lines, with MISSED in capitals so a missed target cannot be overlooked. */
export function formatTargets(checks: readonly TargetCheck[]): string {
  return checks.map((c) => `  ${c.met ? 'met   ' : 'MISSED'}  ${c.name.padEnd(38)} ${c.actual}`).join('\n');
}
