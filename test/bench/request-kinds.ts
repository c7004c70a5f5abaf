/**
 * Sorting registry requests into the kinds the benchmark reports, from method and path alone, so that
 * both tools are counted by the same rules at the same place (a proxy in front of each registry).
 */

/** The kinds of request the benchmark table shows, in column order. */
export const REQUEST_KINDS = [
  'ping',
  'manifestGet',
  'manifestHead',
  'manifestPut',
  'blobHead',
  'blobGet',
  'uploadPost',
  'mount',
  'uploadPatch',
  'blobPut',
  'tagList',
  'token',
  'tlsProbe',
  'other',
] as const;

/** One kind of request. */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** Short column headers of each kind. */
export const KIND_LABELS: Record<RequestKind, string> = {
  ping: 'ping',
  manifestGet: 'mGET',
  manifestHead: 'mHEAD',
  manifestPut: 'mPUT',
  blobHead: 'bHEAD',
  blobGet: 'bGET',
  uploadPost: 'POST',
  mount: 'mount',
  uploadPatch: 'PATCH',
  blobPut: 'bPUT',
  tagList: 'tags',
  token: 'token',
  tlsProbe: 'tls',
  other: 'other',
};

/**
 * Kinds left out of "requests per tag": tokens and tag lists (the rule), and TLS probes, which
 * are refused handshakes on the plain-HTTP port rather than registry requests.
 */
export const NOT_PER_TAG: ReadonlySet<RequestKind> = new Set<RequestKind>(['token', 'tagList', 'tlsProbe']);

/** Counts per kind. */
export type KindCounts = Record<RequestKind, number>;

/** A count of zero for every kind. */
export function emptyCounts(): KindCounts {
  return Object.fromEntries(REQUEST_KINDS.map((k) => [k, 0])) as KindCounts;
}

/** The kind of a distribution API request (`/v2/...`). */
export function classify(method: string, rawPath: string): RequestKind {
  const url = new URL(rawPath, 'http://registry.invalid');
  const path = url.pathname;
  if (path === '/v2/' || path === '/v2') return 'ping';
  if (/\/tags\/list$/.test(path)) return 'tagList';
  if (/\/manifests\/[^/]+$/.test(path)) {
    if (method === 'GET') return 'manifestGet';
    if (method === 'HEAD') return 'manifestHead';
    if (method === 'PUT') return 'manifestPut';
    return 'other';
  }
  if (/\/blobs\/uploads\/?$/.test(path) && method === 'POST') {
    return url.searchParams.has('mount') ? 'mount' : 'uploadPost';
  }
  if (/\/blobs\/uploads\/[^/]+$/.test(path)) {
    if (method === 'PATCH') return 'uploadPatch';
    if (method === 'PUT') return 'blobPut';
    return 'other';
  }
  if (/\/blobs\/[^/]+$/.test(path)) {
    if (method === 'GET') return 'blobGet';
    if (method === 'HEAD') return 'blobHead';
  }
  return 'other';
}

/** Adds `b` into `a`. */
export function addCounts(a: KindCounts, b: KindCounts): KindCounts {
  for (const k of REQUEST_KINDS) a[k] += b[k];
  return a;
}

/** Requests that count against the "requests per tag" target. */
export function perTagTotal(counts: KindCounts): number {
  return REQUEST_KINDS.filter((k) => !NOT_PER_TAG.has(k)).reduce((sum, k) => sum + counts[k], 0);
}
