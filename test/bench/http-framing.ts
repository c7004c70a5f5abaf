/**
 * Where HTTP/1.1 messages begin and end in one direction of a connection, read from the bytes as they
 * pass: each message's head is handed over whole, and its body is only measured (a length, chunked
 * framing, or up to the connection's end), never copied or decoded. The counting proxy uses one per
 * direction to count requests and answers while the bytes themselves go through untouched.
 */

/** How a message's body is delimited, as its head says. */
export type BodyFraming = { readonly length: number } | 'chunked' | 'until-close';

/** What the reader of a direction is told. */
export interface FramingEvents {
  /** A message's head (start line and headers, latin1); returns how its body is delimited. */
  head(text: string): BodyFraming;
  /** `n` bytes of the current message's body (chunk framing not counted). */
  body(n: number): void;
  /** The current message ended. */
  end(): void;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** Longest head or chunk-size line accepted: beyond it the rest of the connection is body. */
const LINE_LIMIT = 64 * 1024;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'until-close';

/** Follows the messages of one direction of one connection. */
export class HttpFraming {
  private state: State = 'head';
  /** Bytes of a head or a line that are not complete yet. */
  private pending: Buffer = Buffer.alloc(0);
  /** Body bytes (or chunk bytes, or a chunk's CRLF) still to come. */
  private remaining = 0;

  public constructor(private readonly events: FramingEvents) {}

  /** Reads the next bytes of the direction. */
  public push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case 'head': {
          const line = this.take(chunk, at, HEAD_END);
          if (line === undefined) return;
          at = line.next;
          // Empty lines between messages are tolerated, as RFC 9112 asks.
          const text = line.bytes.toString('latin1').replace(/^(\r\n)+/, '');
          this.begin(this.events.head(text));
          break;
        }
        case 'body':
        case 'chunk-data': {
          const n = Math.min(this.remaining, chunk.length - at);
          this.events.body(n);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === 'body') this.finish();
            else [this.state, this.remaining] = ['chunk-end', 2];
          }
          break;
        }
        case 'chunk-end': {
          const n = Math.min(this.remaining, chunk.length - at);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'chunk-size': {
          const line = this.take(chunk, at, CRLF);
          if (line === undefined) return;
          at = line.next;
          const size = parseInt(line.bytes.toString('latin1').split(';')[0]?.trim() ?? '', 16);
          if (!Number.isFinite(size) || size < 0) this.state = 'until-close';
          else if (size === 0) this.state = 'trailer';
          else [this.state, this.remaining] = ['chunk-data', size];
          break;
        }
        case 'trailer': {
          const line = this.take(chunk, at, CRLF);
          if (line === undefined) return;
          at = line.next;
          if (line.bytes.length === CRLF.length) this.finish();
          break;
        }
        case 'until-close':
          this.events.body(chunk.length - at);
          return;
      }
    }
  }

  /** The connection closed: a body that runs to the close ends here. */
  public close(): void {
    if (this.state === 'until-close') this.finish();
  }

  private begin(framing: BodyFraming): void {
    if (framing === 'chunked') this.state = 'chunk-size';
    else if (framing === 'until-close') this.state = 'until-close';
    else if (framing.length > 0) [this.state, this.remaining] = ['body', framing.length];
    else this.finish();
  }

  private finish(): void {
    this.state = 'head';
    this.events.end();
  }

  /**
   * The bytes up to and including `end`, joined with what was pending, and where the chunk goes on;
   * undefined (the rest kept pending) when `end` has not come yet.
   */
  private take(chunk: Buffer, at: number, end: Buffer): { bytes: Buffer; next: number } | undefined {
    const joined = this.pending.length === 0 ? chunk.subarray(at) : Buffer.concat([this.pending, chunk.subarray(at)]);
    const found = joined.indexOf(end);
    if (found < 0) {
      this.pending = Buffer.from(joined);
      if (this.pending.length > LINE_LIMIT) [this.state, this.pending] = ['until-close', Buffer.alloc(0)];
      return undefined;
    }
    const used = found + end.length - this.pending.length;
    const bytes = joined.subarray(0, found + end.length);
    this.pending = Buffer.alloc(0);
    return { bytes, next: at + used };
  }
}

/** A header's value from a head's text (the first of that name), lower-cased name match. */
export function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(head);
  return match?.[1]?.trim();
}

/** How a message's body is delimited by its Transfer-Encoding and Content-Length (`fallback` when neither). */
export function bodyFraming(head: string, fallback: BodyFraming): BodyFraming {
  if (/chunked/i.test(headerValue(head, 'transfer-encoding') ?? '')) return 'chunked';
  const length = headerValue(head, 'content-length');
  return length === undefined ? fallback : { length: Number(length) || 0 };
}
