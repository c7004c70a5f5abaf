/**
 * The estimated cost of a cloud run from what its functions measured (functions/adapters/usage-
 * meter.ts): Lambda GB-seconds and invocations, SQS requests, DynamoDB read and write units, at
 * list prices that `--prices` may override (other regions, other dates, savings plans).
 */
import { ConfigError } from '../shared/errors.js';

/** Prices in US dollars. */
export interface Prices {
  /** Lambda, per GB-second (x86, first tier). */
  readonly gbSecond: number;
  /** Lambda, per million invocations. */
  readonly invocations: number;
  /** SQS standard queue, per million requests. */
  readonly sqs: number;
  /** DynamoDB on-demand, per million write request units. */
  readonly writes: number;
  /** DynamoDB on-demand, per million read request units. */
  readonly reads: number;
}

/** us-east-1 list prices (2026-11). */
export const LIST_PRICES: Prices = { gbSecond: 0.0000166667, invocations: 0.2, sqs: 0.4, writes: 0.625, reads: 0.125 };

/** What the summary's `usage` holds. */
export interface RunUsage {
  readonly functionMs: number;
  readonly functionMbMs: number;
  readonly invocations: number;
  readonly sqsRequests: number;
  readonly dynamoRequests: number;
  readonly readUnits: number;
  readonly writeUnits: number;
}

/** A cost estimate, by service. */
export interface RunCost {
  readonly gbSeconds: number;
  readonly lambda: number;
  readonly sqs: number;
  readonly dynamo: number;
  readonly total: number;
}

/** The cost of `usage` at `prices`. */
export function runCost(usage: RunUsage, prices: Prices = LIST_PRICES): RunCost {
  const gbSeconds = usage.functionMbMs / 1024 / 1000;
  const lambda = gbSeconds * prices.gbSecond + (usage.invocations * prices.invocations) / 1e6;
  const sqs = (usage.sqsRequests * prices.sqs) / 1e6;
  const dynamo = (usage.writeUnits * prices.writes + usage.readUnits * prices.reads) / 1e6;
  return { gbSeconds, lambda, sqs, dynamo, total: lambda + sqs + dynamo };
}

/** `gbSecond=0.0000133334,sqs=0.5`: list prices with the named ones replaced. */
export function parsePrices(text: string | undefined): Prices {
  if (text === undefined) return LIST_PRICES;
  const prices: Record<string, number> = { ...LIST_PRICES };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)) {
    const [key = '', value = ''] = part.split('=', 2).map((s) => s.trim());
    const number = Number(value);
    if (!(key in LIST_PRICES)) throw new ConfigError('--prices', key, `is not a price; use ${Object.keys(LIST_PRICES).join(', ')}`);
    if (value === '' || !Number.isFinite(number) || number < 0)
      throw new ConfigError('--prices', key, `must be a price in US dollars, not ${JSON.stringify(value)}`);
    prices[key] = number;
  }
  return prices as unknown as Prices;
}

/** Dollars with enough digits for fractions of a cent. */
export function dollars(amount: number): string {
  return `$${amount < 0.01 ? amount.toFixed(6) : amount.toFixed(4)}`;
}

/** The lines `cloud status` prints about requests and cost. */
export function costLines(usage: RunUsage | undefined, tasks: number, prices: Prices = LIST_PRICES): string[] {
  if (usage === undefined) return [];
  const cost = runCost(usage, prices);
  const perThousand = tasks > 0 ? ` (${dollars((cost.total * 1000) / tasks)} per 1,000 tasks)` : '';
  return [
    `Requests: ${Math.round(usage.sqsRequests)} SQS, ${Math.round(usage.dynamoRequests)} DynamoDB (${round(usage.writeUnits)} write units, ${round(usage.readUnits)} read units), ${Math.round(usage.invocations)} function invocations, ${round(cost.gbSeconds)} GB-s`,
    `Estimated cost: ${dollars(cost.total)}${perThousand}: Lambda ${dollars(cost.lambda)}, SQS ${dollars(cost.sqs)}, DynamoDB ${dollars(cost.dynamo)}`,
  ];
}

function round(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}
