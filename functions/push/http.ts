/**
 * Requests and responses of a Lambda function URL, as the webhook uses them.
 */
import * as z from 'zod';

/**
 * The parts of a function URL request the webhook reads, checked at the boundary: anything else in
 * the event is ignored, and an event without this shape is answered 400 instead of being guessed at.
 */
export const FunctionUrlRequest = z.object({
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().optional(),
  headers: z.record(z.string(), z.string().optional()).nullish(),
  queryStringParameters: z.record(z.string(), z.string().optional()).nullish(),
  requestContext: z.object({ http: z.object({ method: z.string().optional(), sourceIp: z.string().optional() }).optional() }).optional(),
});
export type FunctionUrlRequest = z.infer<typeof FunctionUrlRequest>;

/** What the webhook answers: JSON with a status. */
export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Status codes the webhook answers with. */
export const Status = {
  Accepted: 202,
  BadRequest: 400,
  Unauthorized: 401,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  InternalError: 500,
} as const;

/** A JSON response. */
export function respond(statusCode: number, body: Record<string, unknown>): WebhookResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** An error response; `error` must hold nothing secret. */
export function refuse(statusCode: number, error: string): WebhookResponse {
  return respond(statusCode, { error });
}

/**
 * The raw body bytes, exactly as signed. Function URLs base64-encode bodies that are not text;
 * the signature is over the bytes the sender sent, so they are decoded before anything else.
 */
export function rawBody(event: FunctionUrlRequest): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** Headers with lower-case names (function URLs already send them so; tests may not). */
export function lowerCaseHeaders(event: FunctionUrlRequest): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  return headers;
}
