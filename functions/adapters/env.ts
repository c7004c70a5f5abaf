/**
 * The environment the stack gives each function. A missing or malformed variable is a deployment
 * mistake: it fails the first invocation with a message that names the variable.
 */
import { ImageMigratorError } from '../../shared/errors.js';

/** A variable the function needs is missing or malformed. */
export class EnvironmentError extends ImageMigratorError {
  public constructor(
    public readonly variable: string,
    problem: string,
  ) {
    super(`environment variable ${variable} ${problem}`);
  }
}

type Env = Record<string, string | undefined>;

/** A non-empty variable. */
export function requireEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (value === undefined || value.length === 0) throw new EnvironmentError(name, 'is not set');
  return value;
}

/** An optional variable; undefined when unset or empty. */
export function optionalEnv(name: string, env: Env = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value.length === 0 ? undefined : value;
}

/** A whole number of at least `min`, or `fallback` when unset. */
export function intEnv(name: string, fallback: number, min: number, env: Env = process.env): number {
  const text = optionalEnv(name, env);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new EnvironmentError(name, `must be a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  return value;
}

/**
 * Builds a value on first use. Handlers are created lazily so that importing a handler module (in
 * tests, or for its types) reads no environment and creates no client; a warm container then
 * reuses the clients and their connections across invocations.
 */
export function lazy<T>(create: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: create() }).v;
}
