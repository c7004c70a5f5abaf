/**
 * The rules a push is matched against: the images.json documents stored under the stack's rules
 * prefix in SSM Parameter Store (one per schedule, or put there by the user), all of them or the
 * one named by the webhook URL's `?rules=NAME`.
 */
import { GetParameterCommand, GetParametersByPathCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';

/** One stored images.json document. */
export interface StoredRuleSet {
  /** The parameter's full name; used as the file name in error messages. */
  readonly name: string;
  readonly text: string;
}

/** Reads the rule sets: all of them, or the one called `name` (undefined when it does not exist). */
export type StoredRules = (name?: string) => Promise<StoredRuleSet[] | undefined>;

/** Names a caller may ask for: the schedule names the stack accepts. */
export const RULE_SET_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Stored rules on SSM under `prefix` (ending in `/`). */
export function ssmStoredRules(ssm: SSMClient, prefix: string): StoredRules {
  return async (name) => {
    if (name !== undefined) {
      try {
        const out = await ssm.send(new GetParameterCommand({ Name: `${prefix}${name}`, WithDecryption: true }));
        const text = out.Parameter?.Value;
        return text === undefined ? undefined : [{ name: `${prefix}${name}`, text }];
      } catch (error) {
        if (error instanceof ParameterNotFound) return undefined;
        throw error;
      }
    }
    const sets: StoredRuleSet[] = [];
    let NextToken: string | undefined;
    do {
      // GetParametersByPath pages at 10 parameters; the path is the prefix without its last slash.
      const out = await ssm.send(
        new GetParametersByPathCommand({ Path: prefix.replace(/\/$/, ''), Recursive: false, WithDecryption: true, NextToken }),
      );
      for (const p of out.Parameters ?? []) if (p.Name !== undefined && p.Value !== undefined) sets.push({ name: p.Name, text: p.Value });
      NextToken = out.NextToken;
    } while (NextToken !== undefined);
    return sets;
  };
}
