/**
 * A `WWW-Authenticate` parser (RFC 7235). Registries send every form: `Bearer realm="...",
 * service="...",scope="repository:a:pull repository:b:pull"`, unquoted values, commas inside quoted
 * values (`scope="repository:a:pull,push"`), escaped quotes, and several challenges in one header
 * (`Basic realm="x", Bearer realm="y"`) or in several headers.
 */

/** One challenge: its scheme in lower case and its parameters (names in lower case). */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y;

class Cursor {
  public pos = 0;
  public constructor(public readonly text: string) {}
  public skipSpace(): void {
    while (this.pos < this.text.length && /[ \t]/.test(this.text[this.pos] ?? '')) this.pos++;
  }
  public done(): boolean {
    return this.pos >= this.text.length;
  }
  public peek(): string {
    return this.text[this.pos] ?? '';
  }
  public match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos = re.lastIndex;
    return m[0];
  }
  public quoted(): string {
    // Called on the opening quote; a backslash escapes the next character (RFC 7230 quoted-pair).
    this.pos++;
    let out = '';
    while (!this.done()) {
      const c = this.text[this.pos++] ?? '';
      if (c === '"') return out;
      if (c === '\\' && !this.done()) out += this.text[this.pos++] ?? '';
      else out += c;
    }
    return out;
  }
}

/** Is the text at the cursor `name =` (a parameter) rather than the scheme of the next challenge? */
function atParam(cur: Cursor): boolean {
  const save = cur.pos;
  const name = cur.match(TOKEN);
  cur.skipSpace();
  const isParam = name !== undefined && cur.peek() === '=';
  cur.pos = save;
  return isParam;
}

function parseParams(cur: Cursor, params: Record<string, string>): void {
  for (;;) {
    cur.skipSpace();
    while (cur.peek() === ',') {
      cur.pos++;
      cur.skipSpace();
    }
    if (cur.done() || !atParam(cur)) return;
    const name = (cur.match(TOKEN) ?? '').toLowerCase();
    cur.skipSpace();
    cur.pos++; // '='
    cur.skipSpace();
    const value = cur.peek() === '"' ? cur.quoted() : (cur.match(/[^,\s]*/y) ?? '');
    params[name] = value;
  }
}

/** Every challenge in one or several `WWW-Authenticate` header values; unreadable parts are skipped. */
export function parseAuthChallenges(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const challenges: AuthChallenge[] = [];
  for (const value of values) {
    const cur = new Cursor(value);
    while (!cur.done()) {
      cur.skipSpace();
      if (cur.peek() === ',') {
        cur.pos++;
        continue;
      }
      const scheme = cur.match(TOKEN);
      if (scheme === undefined) {
        cur.pos++; // garbage: skip a character and look for the next challenge
        continue;
      }
      const params: Record<string, string> = {};
      cur.skipSpace();
      if (!cur.done() && cur.peek() !== ',' && !atParam(cur)) {
        // token68 form (`Negotiate abc==`): kept under a synthetic name, unused by registries.
        const t = cur.match(TOKEN68);
        if (t !== undefined) params.token68 = t;
      }
      parseParams(cur, params);
      challenges.push({ scheme: scheme.toLowerCase(), params });
    }
  }
  return challenges;
}

/** Scopes of a Bearer challenge: the `scope` parameter is space separated. */
export function challengeScopes(challenge: AuthChallenge): string[] {
  return (challenge.params.scope ?? '').split(' ').filter((s) => s.length > 0);
}
