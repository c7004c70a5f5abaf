/**
 * The protocol details of chunked uploads (the distribution spec's "upload session"): the offset a
 * response's `Range` reports, the `Content-Range` of a chunk, where the session goes next (each
 * response's `Location`, absolute or relative), and which answers mean the registry no longer knows
 * the session. client.ts sends the requests; shared/copy/chunked-upload.ts drives them.
 */
import { redactUrl } from './redact.js';
import { RegistryError } from './registry-error.js';
import { header, type HttpResponse } from './transport.js';
import type { UploadSession } from './types.js';

/**
 * The bytes a session holds, from `Range: 0-<last byte>`, or undefined when the header is missing or
 * unreadable. `0-0` is read as empty: distribution sends it for a session that holds nothing, and a
 * registry that really holds one byte says so with a 416 on the next chunk.
 */
export function rangeOffset(value: string | undefined): number | undefined {
  const match = /^(?:bytes=)?0-(\d+)$/.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  const last = Number(match[1]);
  return last === 0 ? 0 : last + 1;
}

/** `Content-Range` of a chunk of `size` bytes at `offset`, as the spec writes it (no unit). */
export function contentRange(offset: number, size: number): string {
  return `${offset}-${offset + size - 1}`;
}

/** The session after a response: its Location (resolved against the request) or the same URL. */
export function nextSession(res: HttpResponse, offset: number): UploadSession {
  const location = header(res, 'location');
  return { url: location === undefined ? res.url.href : new URL(location, res.url).href, offset };
}

/**
 * The registry no longer knows the session (404, BLOB_UPLOAD_UNKNOWN; distribution also gives up a
 * session whose stored bytes differ from what its last answer said, BLOB_UPLOAD_INVALID): the upload
 * must start again in a new one.
 */
export class UploadSessionLostError extends RegistryError {}

/** Whether an error says the session is gone. */
export function isSessionLost(error: unknown): boolean {
  if (error instanceof UploadSessionLostError) return true;
  return (
    error instanceof RegistryError && (error.status === 404 || error.hasCode('BLOB_UPLOAD_UNKNOWN') || error.hasCode('BLOB_UPLOAD_INVALID'))
  );
}

/**
 * An answer to a chunk or a status request that is not the one expected, as an error the upload can
 * act on: a lost session, a 416 (the registry holds another offset: ask it), or the status's own
 * verdict. All but refusals of access are worth a resume.
 */
export function sessionError(error: RegistryError): RegistryError {
  if (isSessionLost(error)) {
    return new UploadSessionLostError({
      method: error.method,
      url: error.url,
      status: error.status,
      codes: error.codes,
      retryable: true,
      reason: error.status === undefined ? undefined : `${error.status} upload session unknown to the registry`,
    });
  }
  if (error.status === 416) {
    return new RegistryError({
      method: error.method,
      url: error.url,
      status: 416,
      codes: error.codes,
      reason: '416 the registry holds another offset of the upload',
      retryable: true,
    });
  }
  return error;
}

/**
 * The session URL as it may be recorded for another process to go on with it: without a login, and
 * only when it carries no presigned signature (`X-Amz-Signature`, `sig`, ...: a credential of its
 * own). distribution's `_state` stays: it is the upload's progress under the registry's HMAC, and
 * nothing is accepted with it without the push credentials.
 */
export function storableUploadUrl(url: string): string | undefined {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  const state = parsed.searchParams.get('_state');
  parsed.searchParams.delete('_state');
  // redactUrl takes out every parameter that may be a secret: if it takes out more, the URL is not recorded.
  if (redactUrl(parsed) !== parsed.toString()) return undefined;
  if (state !== null) parsed.searchParams.set('_state', state);
  return parsed.toString();
}
