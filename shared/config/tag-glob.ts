/**
 * Tag globs, as shells write them: `*` any run of characters, `?` one character, `[abc]`, `[0-9]` and
 * `[!x]` a character class; anything else matches itself. A tag has no `/`, so there is no path
 * semantics. Compiled by tag-filter.ts, whose patterns serve rules' tag filters and --immutable-tags.
 */
/** Compiles a glob into an anchored regular expression; throws on an unclosed class. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) throw new Error(`the glob ${JSON.stringify(glob)} opens a [class] it does not close.`);
      let body = glob.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
