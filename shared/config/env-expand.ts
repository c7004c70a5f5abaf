/**
 * Environment references in auth.json's username and password, as Huawei's image-migrator documents ("a string of
 * the ${env} or $env type"). A value that is wholly `$NAME` or `${NAME}` is a reference; `${NAME}`
 * inside a longer value is expanded; `$$` is a literal `$`; any other `$` stays as written, so Harbor's
 * robot accounts (`robot$mirror`) and passwords such as `pa$ 1` need no escaping. A referenced
 * variable that is unset or empty is an error: a silent empty password would only show up later as a
 * puzzling 401.
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

const WHOLE = /^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$/;
const BRACED = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/;

/** Expands `text` from `env` by the rules above. Throws VariableExpansionError. */
export function expandVariables(text: string, env: Record<string, string | undefined>): string {
  const whole = WHOLE.exec(text);
  if (whole !== null) return resolve(whole[1] ?? whole[2] ?? '', env);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text[dollar + 1] === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    const braced = BRACED.exec(text.slice(dollar + 1));
    if (braced === null) {
      out += '$';
      i = dollar + 1;
    } else {
      out += resolve(braced[1] ?? '', env);
      i = dollar + 1 + braced[0].length;
    }
  }
  return out;
}

/** The literal form of `value`: every `$` doubled, so that expanding it gives `value` back. */
export function literalValue(value: string): string {
  return value.replace(/\$/g, () => '$$');
}

function resolve(name: string, env: Record<string, string | undefined>): string {
  const value = env[name];
  if (value === undefined) throw new VariableExpansionError(`the environment variable ${name} is not set`, name);
  if (value.length === 0) throw new VariableExpansionError(`the environment variable ${name} is empty`, name);
  return value;
}
