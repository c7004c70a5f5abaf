/**
 * The typed error of every registry request: HTTP status, the registry's error codes from the
 * distribution spec (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, ...), method and a URL without
 * secrets, and whether repeating the request may help.
 */
import { STATUS_CODES } from 'node:http';
import { ImageMigratorError } from '../errors.js';
import { redactUrl } from './redact.js';
import { isRetryableStatus, isTransientResponse } from './retry.js';

export { isRetryableStatus };

/** One entry of the spec's `{"errors":[{code,message,detail}]}` body. */
export interface RegistryErrorCode {
  readonly code: string;
  readonly message: string;
  /** The entry's `detail`, as short text (a digest, a layer, a reason). */
  readonly detail?: string;
  /** True when `detail` was text (a reason worth showing) rather than structured data. */
  readonly detailIsText?: boolean;
}

/** What a RegistryError is built from. */
export interface RegistryErrorInit {
  readonly method: string;
  readonly url: string | URL;
  readonly status?: number | undefined;
  readonly codes?: readonly RegistryErrorCode[];
  /** Overrides the default (network errors, 408, 429 and 5xx that are not refusals are retryable; see retry.ts). */
  readonly retryable?: boolean;
  /** Replaces the status part of the message, e.g. for network errors. */
  readonly reason?: string;
  /** The wait the registry asked for with Retry-After, for retries above this client (task, SQS). */
  readonly retryAfterMs?: number | undefined;
  /** The registry as a whole is unavailable: it was given up (see RegistryBackoff), so the request never went. */
  readonly unavailable?: boolean;
  readonly cause?: unknown;
}

/** A failed registry request. Never holds a credential: the URL is redacted, headers are not kept. */
export class RegistryError extends ImageMigratorError {
  public readonly status: number | undefined;
  public readonly codes: RegistryErrorCode[];
  public readonly method: string;
  public readonly url: string;
  public readonly retryable: boolean;
  public readonly retryAfterMs: number | undefined;
  public readonly unavailable: boolean;
  /** What went wrong, without the request it went wrong in (the message is `METHOD URL: problem`). */
  public readonly problem: string;

  public constructor(init: RegistryErrorInit) {
    const url = redactUrl(init.url);
    const codes = [...(init.codes ?? [])];
    const head =
      init.reason ?? (init.status === undefined ? 'request failed' : `${init.status} ${STATUS_CODES[init.status] ?? 'Unknown Status'}`);
    const detail = codes
      .map((c) => `${c.message ? `${c.code}: ${c.message}` : c.code}${c.detail && c.detailIsText ? ` (${c.detail})` : ''}`)
      .join('; ');
    const problem = `${head}${detail ? `: ${detail}` : ''}`;
    super(`${init.method} ${url}: ${problem}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.problem = problem;
    this.status = init.status;
    this.codes = codes;
    this.method = init.method;
    this.url = url;
    const manifestPut = init.method === 'PUT' && /\/manifests\//.test(url);
    this.retryable = init.retryable ?? (init.status === undefined || isTransientResponse(init.status, codes, manifestPut));
    this.retryAfterMs = init.retryAfterMs;
    this.unavailable = init.unavailable ?? false;
  }

  /** True when the registry answered with this spec error code. */
  public hasCode(code: string): boolean {
    return this.codes.some((c) => c.code === code);
  }
}

/**
 * Reads the codes out of an error body. Registries are inconsistent: some send the spec's shape,
 * some a bare `{code,message}`, some HTML from a proxy; the latter yields no codes.
 */
export function parseErrorCodes(body: string): RegistryErrorCode[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  if (parsed === null || typeof parsed !== 'object') return [];
  const record = parsed as Record<string, unknown>;
  const list = Array.isArray(record.errors) ? record.errors : typeof record.code === 'string' ? [record] : [];
  const codes: RegistryErrorCode[] = [];
  for (const entry of list) {
    if (entry === null || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    if (typeof e.code !== 'string') continue;
    const detail = detailText(e.detail);
    codes.push({
      code: e.code,
      message: typeof e.message === 'string' ? e.message : '',
      ...(detail ? { detail, detailIsText: typeof e.detail === 'string' } : {}),
    });
  }
  return codes;
}

/** A `detail` as one short line: a string as is, an object as compact JSON; at most 300 characters. */
function detailText(detail: unknown): string | undefined {
  if (detail === undefined || detail === null || detail === '') return undefined;
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  if (text === undefined || text === '{}' || text === '[]') return undefined;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
