/**
 * URLs as they may be shown to a user. Upload locations and object-storage redirects carry
 * bearer-like secrets in their query (distribution's `_state`, S3's `X-Amz-Signature`, GCS's
 * `X-Goog-Signature`, CDN tokens); a URL may also carry a login. Both are removed.
 */

const SECRET_PARAMS = new Set([
  '_state',
  'token',
  'access_token',
  'signature',
  'sig',
  'policy',
  'key-pair-id',
  'expires',
  'password',
  'code',
]);
const SECRET_PREFIXES = ['x-amz-', 'x-goog-', 'x-ms-'];

function isSecretParam(name: string): boolean {
  const lower = name.toLowerCase();
  return SECRET_PARAMS.has(lower) || SECRET_PREFIXES.some((p) => lower.startsWith(p));
}

/** The URL without a login and without query parameters that may be secrets. */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url.toString());
  } catch {
    // Not a URL: show no query at all rather than risk a secret.
    return url.toString().split('?')[0] ?? '';
  }
  parsed.username = '';
  parsed.password = '';
  for (const name of [...parsed.searchParams.keys()]) {
    if (isSecretParam(name)) parsed.searchParams.delete(name);
  }
  return parsed.toString();
}
