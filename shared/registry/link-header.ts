/**
 * The `Link` header of paginated tag lists (RFC 8288): `<url>; rel="next"`, possibly among other
 * links; the URL may be relative (distribution) or absolute (some hosted registries).
 */

/** The target of the `rel="next"` link, resolved against `base`; undefined when there is none. */
export function nextLink(value: string | string[] | undefined, base: URL): URL | undefined {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  for (const v of values) {
    for (const match of v.matchAll(/<([^>]*)>([^,<]*)/g)) {
      const params = match[2] ?? '';
      if (/;\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?/i.test(params)) return new URL(match[1] ?? '', base);
    }
  }
  return undefined;
}
