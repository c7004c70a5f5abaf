/**
 * `${VAR}` and `$VAR` in auth.json's username and password, as the seed documents. Only those two
 * forms are read; `$$` is a literal `$`, and a `$` followed by anything else stays as written, so a
 * password such as `pa$ 1` needs no escaping. An unset or empty variable is an error: a silent empty
 * password would only show up later as a puzzling 401.
 */
import { ImageMigratorError } from '../errors.js';

/** A reference that cannot be expanded. The message names the variable, never a value. */
export class VariableExpansionError extends ImageMigratorError {
  public constructor(
    problem: string,
    public readonly variable?: string,
  ) {
    super(problem);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Replaces `${VAR}`, `$VAR` and `$$` in `text` from `env`. Throws VariableExpansionError. */
export function expandVariables(text: string, env: Record<string, string | undefined>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const close = text.indexOf('}', dollar + 2);
      if (close < 0) throw new VariableExpansionError('"${" is not closed by "}" (write "$$" for a literal "$")');
      const name = text.slice(dollar + 2, close);
      if (NAME.exec(name)?.[0] !== name) {
        // The text between the braces is not echoed: it may be part of a literal password.
        throw new VariableExpansionError('"${...}" holds something other than a variable name (letters, digits and \'_\'; write "$$" for a literal "$")');
      }
      out += resolve(name, env);
      i = close + 1;
    } else {
      const name = NAME.exec(text.slice(dollar + 1))?.[0];
      if (name === undefined) {
        out += '$';
        i = dollar + 1;
      } else {
        out += resolve(name, env);
        i = dollar + 1 + name.length;
      }
    }
  }
  return out;
}

function resolve(name: string, env: Record<string, string | undefined>): string {
  const value = env[name];
  if (value === undefined) throw new VariableExpansionError(`the environment variable ${name} is not set`, name);
  if (value.length === 0) throw new VariableExpansionError(`the environment variable ${name} is empty`, name);
  return value;
}
