/**
 * The ECR repositories the copier may use, from CDK context: `ecrDestinations` (push, pull, create)
 * and `ecrSources` (pull), each a list of repository names or patterns in the stack's account and
 * region (`"team/*"`, `"base"`) or full repository ARNs for another account or region. A list may be
 * given as JSON text, as `-c ecrDestinations='["team/*"]'` passes it.
 */
import type { Node } from 'constructs';
import { StackSettingsError } from './settings.js';

/** The ECR repositories named in context. */
export interface EcrSettings {
  readonly destinations: readonly string[];
  readonly sources: readonly string[];
}

const NAME = /^(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*\/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*\/?\*?$/;
const ARN = /^arn:aws(?:-cn|-us-gov)?:ecr:[a-z0-9-]+:\d{12}:repository\/\S+$/;

/** Reads both lists; throws StackSettingsError naming the key and the entry. */
export function readEcrSettings(node: Node): EcrSettings {
  return { destinations: list(node, 'ecrDestinations'), sources: list(node, 'ecrSources') };
}

function list(node: Node, key: string): string[] {
  let raw: unknown = node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      raw = raw.trim().startsWith('[') ? JSON.parse(raw) : [raw];
    } catch (error) {
      throw new StackSettingsError(key, 'is not a JSON list such as ["team/*"]', { cause: error });
    }
  }
  if (!Array.isArray(raw))
    throw new StackSettingsError(key, `${JSON.stringify(raw)} must be a list of repository names or ARNs, such as ["team/*"]`);
  return raw.map((entry) => {
    if (typeof entry !== 'string' || !(NAME.test(entry) || ARN.test(entry))) {
      throw new StackSettingsError(
        key,
        `${JSON.stringify(entry)} is neither a repository name or pattern (lower case, such as "team/*") nor an ECR repository ARN`,
      );
    }
    return entry;
  });
}
