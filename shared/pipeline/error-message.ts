/**
 * The one-line text of an error for logs, reports and table items. Errors of this project never hold
 * secrets; for anything else (a library's error quoting a URL), every URL in the text goes through
 * the same redaction as the registry client's own errors.
 */
import { redactUrl } from '../registry/redact.js';

/** A single line: the message, and the cause's message when it adds something. */
export function errorMessage(error: unknown): string {
  const e = error as { message?: unknown; cause?: unknown } | undefined;
  let text = typeof e?.message === 'string' && e.message.length > 0 ? e.message : String(error);
  const cause = (e?.cause as { message?: unknown } | undefined)?.message;
  if (typeof cause === 'string' && cause.length > 0 && !text.includes(cause)) text += `: ${cause}`;
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\bhttps?:\/\/[^\s"'<>]+/g, (url) => redactUrl(url));
}
