/**
 * Registries that announce a pull budget (Docker Hub: `ratelimit-limit: 100;w=21600` and
 * `ratelimit-remaining: 76;w=21600`, counted on manifest GETs) are paced before they refuse with
 * 429: once the remaining budget is low, manifest GETs to that registry go one at a time, spaced so
 * that the rest of the budget lasts the window, each wait bounded. Registries that send no such
 * headers are never slowed.
 */

/** Settings of a pacer. */
export interface RateLimitPacerOptions {
  /** Pacing starts when the remaining budget is at most this share of the limit (default 0.1). */
  readonly lowShare?: number;
  /** ... or at most this many requests (default 10). */
  readonly lowCount?: number;
  /** The longest wait before one request (default 30 s): a run slows down, it does not stall. */
  readonly maxDelayMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told about every wait, for the log. */
  readonly onPace?: (registry: string, delayMs: number, remaining: number) => void;
}

interface Budget {
  remaining: number;
  windowMs: number;
  limit: number | undefined;
  /** When the next paced request may go. */
  nextAt: number;
}

/** `76;w=21600` -> { count: 76, windowMs: 21600000 }; undefined when it does not parse. */
export function parseRateLimitHeader(value: string | string[] | undefined): { count: number; windowMs: number | undefined } | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const match = text === undefined ? null : /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(text);
  if (match === null) return undefined;
  return { count: Number(match[1]), windowMs: match[2] === undefined ? undefined : Number(match[2]) * 1000 };
}

/** One pacer per run, shared by every worker. */
export class RateLimitPacer {
  private readonly budgets = new Map<string, Budget>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  public constructor(private readonly options: RateLimitPacerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Learns the budget from a response's headers. */
  public observe(registry: string, headers: Record<string, string | string[] | undefined>): void {
    const remaining = parseRateLimitHeader(headers['ratelimit-remaining']);
    if (remaining === undefined) return;
    const limit = parseRateLimitHeader(headers['ratelimit-limit']);
    const budget = this.budgets.get(registry);
    const windowMs = remaining.windowMs ?? limit?.windowMs ?? 21_600_000;
    if (budget === undefined) this.budgets.set(registry, { remaining: remaining.count, windowMs, limit: limit?.count, nextAt: 0 });
    else Object.assign(budget, { remaining: remaining.count, windowMs, limit: limit?.count ?? budget.limit });
  }

  /** Waits, when the registry's budget is low, for this request's turn. */
  public async wait(registry: string): Promise<void> {
    const budget = this.budgets.get(registry);
    if (budget === undefined || !this.low(budget)) return;
    const spacing = Math.min(this.options.maxDelayMs ?? 30_000, budget.windowMs / Math.max(1, budget.remaining));
    const now = this.now();
    const at = Math.max(now, budget.nextAt);
    budget.nextAt = at + spacing;
    // Counted down here so that workers waiting at once see the budget their turns will use.
    budget.remaining = Math.max(0, budget.remaining - 1);
    if (at > now) {
      this.options.onPace?.(registry, at - now, budget.remaining);
      await this.sleep(at - now);
    }
  }

  private low(budget: Budget): boolean {
    const share = budget.limit === undefined ? Infinity : budget.remaining / Math.max(1, budget.limit);
    return budget.remaining <= (this.options.lowCount ?? 10) || share <= (this.options.lowShare ?? 0.1);
  }
}
