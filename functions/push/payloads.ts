/**
 * The push notifications the webhook understands, reduced to the tags that were pushed:
 * - the distribution registry's notification envelope: `{"events":[{"action":"push",
 *   "target":{"repository","tag","digest"},"request":{"host"}}]}`;
 * - Harbor's webhook: `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag","resource_url"}],
 *   "repository":{"repo_full_name"}}}`;
 * - a plain `{"repository":"host/ns/repo","tag":"1.2"}`.
 * A known format that reports no tag push (a pull, a blob upload, a Harbor deletion) gives an
 * empty list; a body in none of these formats is an error. Each format is a zod schema; an event or
 * resource of the wrong shape inside a known format is skipped.
 */
import * as z from 'zod';
import { ImageMigratorError, InvalidReferenceError } from '../../shared/errors.js';
import { parseReference } from '../../shared/reference.js';

/** One pushed tag, with the registry in canonical form (Docker Hub is `docker.io`). */
export interface PushedTag {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
}

/** The formats, as they are named in logs and responses. */
export const PayloadFormat = {
  Distribution: 'distribution',
  Harbor: 'harbor',
  Plain: 'plain',
} as const;
export type PayloadFormat = (typeof PayloadFormat)[keyof typeof PayloadFormat];

/** The body is not JSON, or not one of the formats. */
export class UnknownPayloadError extends ImageMigratorError {
  public constructor(reason: string, options?: { cause?: unknown }) {
    super(
      `unrecognised payload: ${reason}; expected a distribution notification envelope, a Harbor PUSH_ARTIFACT webhook or {"repository":"host/namespace/repository","tag":"..."}`,
      options,
    );
  }
}

/** What a body announced. */
export interface ParsedPayload {
  readonly format: PayloadFormat;
  readonly pushes: PushedTag[];
}

/** A string field that may be absent or of another type: read as absent. */
const loose = z.string().optional().catch(undefined);
const Text = z.string().min(1);
const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.length === 0 ? undefined : v);

/** The distribution registry's notification envelope; its events are read one by one. */
const DistributionEnvelope = z.object({ events: z.array(z.unknown()) });
/** A manifest push by tag; blob pushes and pulls do not match and are skipped. */
const DistributionPush = z.object({
  action: z.literal('push'),
  target: z.object({ repository: Text, tag: Text, url: loose }),
  request: z.object({ host: loose }).optional().catch(undefined),
});
/** Harbor's webhook; only PUSH_ARTIFACT reports pushes. */
const HarborWebhook = z.object({
  type: z.string(),
  event_data: z.object({
    resources: z.array(z.unknown()).catch([]),
    repository: z.object({ repo_full_name: loose }).optional().catch(undefined),
  }),
});
/** One pushed artifact; `resource_url` is `host/project/repo[:tag|@digest]`. */
const HarborResource = z.object({ tag: Text, resource_url: Text });
/** The plain form. */
const PlainPush = z.object({ repository: Text, tag: Text });

/** Parses `body` (UTF-8 JSON). Throws UnknownPayloadError. */
export function parsePushPayload(body: string): ParsedPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (error) {
    throw new UnknownPayloadError('the body is not JSON', { cause: error });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UnknownPayloadError('the body is not a JSON object');
  const envelope = DistributionEnvelope.safeParse(doc);
  if (envelope.success) return { format: PayloadFormat.Distribution, pushes: distribution(envelope.data.events) };
  const harbor = HarborWebhook.safeParse(doc);
  if (harbor.success) return { format: PayloadFormat.Harbor, pushes: harborPushes(harbor.data) };
  const plain = PlainPush.safeParse(doc);
  if (plain.success) return { format: PayloadFormat.Plain, pushes: [pushed(plain.data.repository, plain.data.tag)] };
  throw new UnknownPayloadError('no "events", Harbor "type"/"event_data", or "repository" and "tag"');
}

function distribution(events: readonly unknown[]): PushedTag[] {
  const pushes: PushedTag[] = [];
  for (const event of events) {
    const push = DistributionPush.safeParse(event);
    if (!push.success) continue;
    const { target, request } = push.data;
    // The host the client pushed to; the target URL holds it too when a proxy dropped the request part.
    const host = nonEmpty(request?.host) ?? hostOf(nonEmpty(target.url));
    if (host === undefined) continue;
    pushes.push(pushed(`${host}/${target.repository}`, target.tag));
  }
  return pushes;
}

function harborPushes(doc: z.infer<typeof HarborWebhook>): PushedTag[] {
  if (doc.type !== 'PUSH_ARTIFACT') return [];
  const fullName = nonEmpty(doc.event_data.repository?.repo_full_name);
  const pushes: PushedTag[] = [];
  for (const item of doc.event_data.resources) {
    const resource = HarborResource.safeParse(item);
    if (!resource.success) continue;
    const { tag, resource_url: url } = resource.data;
    const name = url.split('@')[0]!.replace(/:[^/:]+$/, '');
    // resource_url names the host Harbor is reached at; repo_full_name is the project/repo path.
    const host = name.split('/')[0]!;
    pushes.push(pushed(fullName === undefined ? name : `${host}/${fullName}`, tag));
  }
  return pushes;
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

function pushed(name: string, tag: string): PushedTag {
  try {
    const ref = parseReference(`${name}:${tag}`);
    return { registry: ref.registry, repository: ref.repository, tag };
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new UnknownPayloadError(`${JSON.stringify(`${name}:${tag}`)} is not an image reference (${error.message})`, { cause: error });
  }
}
