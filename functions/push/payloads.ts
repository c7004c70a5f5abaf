/**
 * The push notifications the webhook understands, reduced to the tags that were pushed:
 * - the distribution registry's notification envelope: `{"events":[{"action":"push",
 *   "target":{"repository","tag","digest"},"request":{"host"}}]}`;
 * - Harbor's webhook: `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag","resource_url"}],
 *   "repository":{"repo_full_name"}}}`;
 * - a plain `{"repository":"host/ns/repo","tag":"1.2"}`.
 * A known format that reports no tag push (a pull, a blob upload, a Harbor deletion) gives an
 * empty list; a body in none of these formats is an error.
 */
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
    super(`unrecognised payload: ${reason}; expected a distribution notification envelope, a Harbor PUSH_ARTIFACT webhook or {"repository":"host/namespace/repository","tag":"..."}`, options);
  }
}

/** What a body announced. */
export interface ParsedPayload {
  readonly format: PayloadFormat;
  readonly pushes: PushedTag[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Parses `body` (UTF-8 JSON). Throws UnknownPayloadError. */
export function parsePushPayload(body: string): ParsedPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (error) {
    throw new UnknownPayloadError('the body is not JSON', { cause: error });
  }
  if (!isObject(doc)) throw new UnknownPayloadError('the body is not a JSON object');
  if (Array.isArray(doc.events)) return { format: PayloadFormat.Distribution, pushes: distribution(doc.events) };
  if (typeof doc.type === 'string' && isObject(doc.event_data)) return { format: PayloadFormat.Harbor, pushes: harbor(doc) };
  if (text(doc.repository) !== undefined && text(doc.tag) !== undefined) {
    return { format: PayloadFormat.Plain, pushes: [pushed(`${doc.repository as string}`, doc.tag as string)] };
  }
  throw new UnknownPayloadError('no "events", Harbor "type"/"event_data", or "repository" and "tag"');
}

/** Manifest pushes by tag; blob pushes and pulls carry no tag and are skipped. */
function distribution(events: unknown[]): PushedTag[] {
  const pushes: PushedTag[] = [];
  for (const event of events) {
    if (!isObject(event) || event.action !== 'push' || !isObject(event.target)) continue;
    const repository = text(event.target.repository);
    const tag = text(event.target.tag);
    // The host the client pushed to; the target URL holds it too when a proxy dropped the request part.
    const host = (isObject(event.request) ? text(event.request.host) : undefined) ?? hostOf(text(event.target.url));
    if (repository === undefined || tag === undefined || host === undefined) continue;
    pushes.push(pushed(`${host}/${repository}`, tag));
  }
  return pushes;
}

/** PUSH_ARTIFACT only; `resource_url` is `host/project/repo[:tag|@digest]`. */
function harbor(doc: Json): PushedTag[] {
  if (doc.type !== 'PUSH_ARTIFACT') return [];
  const data = doc.event_data as Json;
  const resources = Array.isArray(data.resources) ? data.resources : [];
  const fullName = isObject(data.repository) ? text(data.repository.repo_full_name) : undefined;
  const pushes: PushedTag[] = [];
  for (const resource of resources) {
    if (!isObject(resource)) continue;
    const tag = text(resource.tag);
    const url = text(resource.resource_url);
    if (tag === undefined || url === undefined) continue;
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
