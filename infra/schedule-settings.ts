/**
 * The `schedules` context: runs that EventBridge Scheduler starts by itself.
 *
 * ```json
 * "schedules": {
 *   "nightly": { "expression": "cron(0 3 * * ? *)", "timeZone": "Europe/Paris", "rules": "mirror/images.json" },
 *   "hourly": "rate(1 hour)"
 * }
 * ```
 * The long form names an images.json (relative to the directory `cdk` runs in) that synth reads,
 * checks and stores in an SSM parameter; the short form (an expression only) leaves the parameter
 * to the user. Every mistake fails synth with a message that names the schedule.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Node } from 'constructs';
import { parseImagesFile, type Defaults } from '../shared/config/images-file.js';
import { ConfigError } from '../shared/errors.js';
import { StackSettingsError } from './settings.js';

/** One schedule. */
export interface ScheduleSetting {
  readonly name: string;
  /** `rate(N unit)` or `cron(min hour day-of-month month day-of-week year)`. */
  readonly expression: string;
  /** IANA time zone of a cron expression; UTC when absent. */
  readonly timeZone?: string;
  /** The images.json given in the configuration, as written. */
  readonly rulesFile?: string;
  /** That file's text, checked; stored in the schedule's SSM parameter at deploy time. */
  readonly rules?: string;
}

/** SSM's limit for an Advanced-tier String parameter; Standard holds 4 KB. */
export const MAX_RULES_BYTES = 8192;

const KEY = 'schedules';
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;

/** Reads the schedules; `defaults` serve stored rules with empty destinations. */
export function readSchedules(node: Node, defaults: Defaults, baseDir: string = process.cwd()): ScheduleSetting[] {
  let raw: unknown = node.tryGetContext(KEY);
  if (raw === undefined || raw === null || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (error) {
      throw new StackSettingsError(KEY, 'must be a JSON object of NAME -> schedule', { cause: error });
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StackSettingsError(KEY, 'must be an object of NAME -> "rate(...)" | "cron(...)" | { "expression", "timeZone"?, "rules"? }');
  }
  return Object.entries(raw).map(([name, value]) => {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new StackSettingsError(KEY, `name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-'`);
    }
    const entry: Record<string, unknown> = typeof value === 'string' ? { expression: value } : isObject(value) ? value : {};
    if (typeof value !== 'string' && !isObject(value)) {
      throw new StackSettingsError(KEY, `${JSON.stringify(name)} must be an expression or { "expression", "timeZone"?, "rules"? }`);
    }
    const unknown = Object.keys(entry).filter((k) => !['expression', 'timeZone', 'rules'].includes(k));
    if (unknown.length > 0)
      throw new StackSettingsError(
        KEY,
        `${JSON.stringify(name)}: unknown field ${JSON.stringify(unknown[0])} (use expression, timeZone, rules)`,
      );
    const expression = checkExpression(name, entry.expression);
    const timeZone = checkTimeZone(name, entry.timeZone);
    const rulesFile = entry.rules;
    if (rulesFile === undefined) return { name, expression, ...timeZone };
    if (typeof rulesFile !== 'string' || rulesFile.length === 0) {
      throw new StackSettingsError(KEY, `${JSON.stringify(name)}: "rules" must be the path of an images.json`);
    }
    return { name, expression, ...timeZone, rulesFile, rules: readRules(name, rulesFile, baseDir, defaults) };
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkExpression(name: string, raw: unknown): string {
  const expression = typeof raw === 'string' ? raw.trim() : '';
  const bad = (why: string): StackSettingsError => new StackSettingsError(KEY, `${JSON.stringify(name)}: ${JSON.stringify(raw)} ${why}`);
  const rate = RATE.exec(expression);
  if (rate !== null) {
    const count = Number(rate[1]);
    const unit = rate[2]!;
    if (count < 1) throw bad('must repeat at least every 1 minute');
    // Scheduler accepts the singular unit only for 1 and the plural only for more.
    if ((count === 1) !== !unit.endsWith('s'))
      throw bad(`must be written rate(${count} ${count === 1 ? unit.replace(/s$/, '') : `${unit.replace(/s$/, '')}s`})`);
    return expression;
  }
  const cron = CRON.exec(expression);
  if (cron !== null) {
    const fields = cron[1]!.trim().split(/\s+/);
    if (fields.length !== 6) throw bad('must have six fields: cron(minutes hours day-of-month month day-of-week year)');
    if ((fields[2] === '?') === (fields[4] === '?')) throw bad('must have "?" in exactly one of day-of-month and day-of-week');
    return expression;
  }
  throw bad('must be a "rate(...)" or "cron(...)" expression');
}

function checkTimeZone(name: string, raw: unknown): { timeZone?: string } {
  if (raw === undefined) return {};
  try {
    if (typeof raw !== 'string' || raw.length === 0) throw new RangeError('not a string');
    new Intl.DateTimeFormat('en', { timeZone: raw });
    return { timeZone: raw };
  } catch (error) {
    throw new StackSettingsError(
      KEY,
      `${JSON.stringify(name)}: timeZone ${JSON.stringify(raw)} is not an IANA time zone such as "Europe/Paris"`,
      { cause: error },
    );
  }
}

function readRules(name: string, file: string, baseDir: string, defaults: Defaults): string {
  const path = resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new StackSettingsError(KEY, `${JSON.stringify(name)}: the rules file ${path} ${why}`, { cause: error });
  }
  try {
    parseImagesFile(text, file, defaults);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new StackSettingsError(KEY, `${JSON.stringify(name)}: ${error.message}`, { cause: error });
  }
  if (Buffer.byteLength(text) > MAX_RULES_BYTES) {
    throw new StackSettingsError(
      KEY,
      `${JSON.stringify(name)}: ${file} is larger than ${MAX_RULES_BYTES} bytes, the limit of an SSM parameter; split it into several schedules`,
    );
  }
  return text;
}
