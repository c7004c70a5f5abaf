/**
 * What a run costs, measured where it is spent: each function counts the table requests (with the
 * capacity units DynamoDB reports), the queue requests and its own running time per run, and adds
 * them to one of the run's counter shards at the end of an invocation (one extra write per
 * invocation, not per task). `cloud status` turns the sums into an estimated cost.
 */
import { emptyUsage, type Usage } from './dynamo-items.js';

/** Usage tallied per run since the last flush. */
export class UsageMeter {
  private readonly pending = new Map<string, Usage>();

  private of(runId: string): Usage {
    let usage = this.pending.get(runId);
    if (usage === undefined) this.pending.set(runId, (usage = emptyUsage()));
    return usage;
  }

  /** One table request and the capacity units it consumed. */
  public dynamo(runId: string, readUnits: number, writeUnits: number): void {
    const usage = this.of(runId);
    usage.dynamoRequests += 1;
    usage.readUnits += readUnits;
    usage.writeUnits += writeUnits;
  }

  /** Queue requests made for the run (sends, visibility changes, and the event source's receive and delete). */
  public sqs(runId: string, requests: number): void {
    this.of(runId).sqsRequests += requests;
  }

  /** A share of one invocation's billed time at the function's memory size. */
  public invocation(runId: string, ms: number, memoryMb: number, share = 1): void {
    const usage = this.of(runId);
    usage.functionMs += ms * share;
    usage.functionMbMs += ms * memoryMb * share;
    usage.invocations += share;
  }

  /** The tallies so far, cleared. */
  public drain(): Map<string, Usage> {
    const out = new Map(this.pending);
    this.pending.clear();
    return out;
  }
}
