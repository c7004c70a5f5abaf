/**
 * The one-line text of an error for logs, reports and table items. Errors of this project never hold
 * secrets; for anything else, URLs lose their query and user info.
 */

/** A single line: the message, and the cause's message when it adds something. */
export function errorMessage(error: unknown): string {
  const e = error as { message?: unknown; cause?: unknown } | undefined;
  let text = typeof e?.message === 'string' && e.message.length > 0 ? e.message : String(error);
  const cause = (e?.cause as { message?: unknown } | undefined)?.message;
  if (typeof cause === 'string' && cause.length > 0 && !text.includes(cause)) text += `: ${cause}`;
  return redactUrls(text.replace(/\s+/g, ' ').trim());
}

/** Drops user info and query strings from URLs in a text. */
export function redactUrls(text: string): string {
  return text.replace(/\b(https?:\/\/)(?:[^\s/@]+@)?([^\s?#]+)\?[^\s]*/g, '$1$2').replace(/\b(https?:\/\/)[^\s/@]+@/g, '$1');
}
