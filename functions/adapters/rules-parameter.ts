/**
 * Stored rules of a schedule: an images.json document in an SSM parameter. Only names under the
 * stack's prefix are read, so an event cannot point the planner at unrelated parameters (IAM
 * enforces the same; this gives a clear message first).
 */
import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import { ConfigError } from '../../shared/errors.js';

/** Reads the text of a rules parameter. Throws ConfigError with the parameter's name. */
export type RulesReader = (name: string) => Promise<string>;

/** A reader on SSM Parameter Store; `prefix` like `/image-migrator/rules/` (empty: any name). */
export function ssmRulesReader(ssm: SSMClient, prefix: string): RulesReader {
  return async (name) => {
    if (prefix.length > 0 && !name.startsWith(prefix)) {
      throw new ConfigError('planner event', 'rulesParameter', `${name} is not under this stack's rules prefix ${prefix}`);
    }
    try {
      // SecureString parameters are decrypted; String ones are returned as they are.
      const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      const value = out.Parameter?.Value;
      if (value === undefined) throw new ConfigError(`SSM parameter ${name}`, undefined, 'has no value');
      return value;
    } catch (error) {
      if (error instanceof ParameterNotFound) {
        throw new ConfigError('planner event', 'rulesParameter', `the SSM parameter ${name} does not exist`, { cause: error });
      }
      throw error;
    }
  };
}
