/**
 * images.json: an object of rules, source to destination, with the eight rules of Huawei's image-migrator. Read from a
 * file by the CLI and from an event on AWS, so parsing works on text.
 *
 * A key may repeat: Huawei's image-migrator asks for "several rules" to send one source to several destinations,
 * and JSON.parse would keep only the last, so every duplicate is kept as its own rule. A list of
 * destinations as the value does the same in one entry. A value may also be an object,
 * `{"to": ..., "tags": ..., "platforms": ..., "referrers": ..., "immutable": ..., "foreignLayers": ...}` (rule-object.ts),
 * and a list may hold such objects beside destination strings.
 */
import { ConfigError } from '../errors.js';
import { type Defaults, type MigrationRule, RuleProblem, buildRule } from './image-rule.js';
import { describeNode, nodeValue, parseJsonObject } from './json-document.js';
import { readConfigFile } from './read-config-file.js';
import { RuleObjectProblem, parseRuleObject, type RuleOptions } from './rule-object.js';
import { findConflict } from './rule-conflicts.js';

export type { Defaults, MigrationRule } from './image-rule.js';

const SHAPE = 'an object of rules, e.g. {"quay.io/coreos/etcd:3.5": "swr.example.com/test/etcd"}';

/**
 * Parses images.json text into rules, in file order. `file` names the document in messages;
 * `defaults` serve rule 8 (empty destination). Throws ConfigError on the first broken rule.
 */
export function parseImagesFile(text: string, file: string, defaults: Defaults): MigrationRule[] {
  const members = parseJsonObject(text, file, SHAPE);
  if (members.length === 0) {
    throw new ConfigError(file, undefined, 'there are no rules; write at least one "source": "destination" pair');
  }
  const rules: MigrationRule[] = [];
  for (const { key, value } of members) {
    // A list may mix destinations and object-form rules: each element is its own rule (or rules).
    const elements = value.type === 'array' ? (value.children ?? []) : [value];
    if (value.type === 'array' && elements.length === 0) throw new ConfigError(file, key, 'the list of destinations is empty');
    elements.forEach((element, i) => {
      if (element.type === 'object') {
        let parsed;
        try {
          parsed = parseRuleObject(nodeValue(element));
        } catch (error) {
          if (!(error instanceof RuleObjectProblem)) throw error;
          throw new ConfigError(file, key, value.type === 'array' ? `element ${i + 1}: ${error.message}` : error.message);
        }
        pushRules(rules, file, key, parsed.destinations, defaults, parsed.options);
        return;
      }
      const destination = element.type === 'string' ? (element.value as string) : undefined;
      if (destination === undefined) {
        const problem =
          value.type === 'array'
            ? `every destination in the list must be a string or an object {"to": ...}, but element ${i + 1} is not`
            : `the destination must be a string, a list of strings, or an object {"to": ...}, not ${describeNode(value)}`;
        throw new ConfigError(file, key, problem);
      }
      pushRules(rules, file, key, [destination], defaults, {});
    });
  }
  const conflict = findConflict(rules);
  if (conflict !== undefined) throw new ConfigError(file, conflict.later.key, conflict.problem);
  return rules;
}

/** Reads and parses images.json at `path`; a missing file is a ConfigError. */
export async function loadImagesFile(path: string, defaults: Defaults): Promise<MigrationRule[]> {
  return parseImagesFile(await readConfigFile(path), path, defaults);
}

function pushRules(
  rules: MigrationRule[],
  file: string,
  key: string,
  destinations: readonly string[],
  defaults: Defaults,
  options: RuleOptions,
): void {
  for (const destination of destinations) {
    try {
      rules.push(buildRule(rules.length + 1, key, destination, defaults, options));
    } catch (error) {
      if (!(error instanceof RuleProblem)) throw error;
      throw new ConfigError(file, key, error.problem, { cause: error.cause });
    }
  }
}
