/**
 * The repositories a run will touch on each registry, announced before it starts, so that a Bearer
 * registry can be asked for one token carrying every scope at once (the token spec allows several
 * `scope` parameters) instead of one token per repository.
 *
 * A request is served by the run's token when every scope it needs is among the announced ones. A
 * repository the server would not grant in the shared token (a 401 with it) is taken out, and gets
 * its own token from then on; a token endpoint that refuses the shared request takes the whole
 * registry out. Very many repositories are split into groups so that a token URL stays a few KB.
 */

/** Query length of the scopes of one shared token: well under the 8 KB many servers allow a URL. */
const MAX_SCOPE_CHARS = 6000;

interface Group {
  readonly repositories: Map<string, Set<string>>;
  chars: number;
  /** The scope list, kept until the group changes: the same array for every request it serves. */
  scopes?: string[] | undefined;
}

/** `repository:NAME:a,b` parsed; undefined for other scope types. */
function parseRepositoryScope(scope: string): { name: string; actions: string[] } | undefined {
  if (!scope.startsWith('repository:')) return undefined;
  const last = scope.lastIndexOf(':');
  if (last <= 'repository:'.length) return undefined;
  return {
    name: scope.slice('repository:'.length, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

function scopesOf(group: Group): string[] {
  group.scopes ??= [...group.repositories].map(([name, actions]) => `repository:${name}:${[...actions].sort().join(',')}`);
  return group.scopes;
}

/** Announced scopes per registry, and which requests they can serve. */
export class RunScopes {
  private readonly groups = new Map<string, Group[]>();
  /** registry -> repositories that need their own token */
  private readonly excluded = new Map<string, Set<string>>();
  private readonly refused = new Set<string>();

  /** Announces that the run will use `repository` on `registry`, to pull or to push (and pull). */
  public announce(registry: string, repository: string, push: boolean): void {
    let groups = this.groups.get(registry);
    if (groups === undefined) this.groups.set(registry, (groups = []));
    const actions = push ? ['pull', 'push'] : ['pull'];
    const holder = groups.find((g) => g.repositories.has(repository));
    if (holder !== undefined) {
      for (const a of actions) holder.repositories.get(repository)?.add(a);
      holder.scopes = undefined;
      return;
    }
    const cost = repository.length + 40;
    let group = groups[groups.length - 1];
    if (group === undefined || group.chars + cost > MAX_SCOPE_CHARS) groups.push((group = { repositories: new Map(), chars: 0 }));
    group.repositories.set(repository, new Set(actions));
    group.chars += cost;
    group.scopes = undefined;
  }

  /**
   * The scopes of the shared token that serves a request needing `scopes`, or undefined when the
   * request needs a token of its own.
   */
  public covering(registry: string, scopes: readonly string[]): string[] | undefined {
    if (this.refused.has(registry) || scopes.length === 0) return undefined;
    const excluded = this.excluded.get(registry);
    let found: Group | undefined;
    for (const scope of scopes) {
      const parsed = parseRepositoryScope(scope);
      if (parsed === undefined || excluded?.has(parsed.name)) return undefined;
      const group = this.groups.get(registry)?.find((g) => g.repositories.has(parsed.name));
      const granted = group?.repositories.get(parsed.name);
      if (group === undefined || granted === undefined || (found !== undefined && found !== group)) return undefined;
      if (!parsed.actions.every((a) => granted.has(a))) return undefined;
      found = group;
    }
    return found === undefined ? undefined : scopesOf(found);
  }

  /** The shared token did not let a request with these scopes through: those repositories get their own. */
  public exclude(registry: string, scopes: readonly string[]): void {
    let excluded = this.excluded.get(registry);
    if (excluded === undefined) this.excluded.set(registry, (excluded = new Set()));
    for (const scope of scopes) {
      const parsed = parseRepositoryScope(scope);
      if (parsed !== undefined) excluded.add(parsed.name);
    }
  }

  /**
   * The token endpoint refused the shared request: every repository of the registry gets its own
   * token. True the first time (requests that shared the refused answer all report it).
   */
  public refuse(registry: string): boolean {
    if (this.refused.has(registry)) return false;
    this.refused.add(registry);
    return true;
  }
}
