/**
 * Errors of cluster discovery. Each message is what a user needs to act on (which server, which
 * resource, which permission); none carries a token, a key or a kubeconfig's contents.
 */
import { ImageMigratorError } from '../errors.js';

/** Why the cluster could not be read. */
export const ClusterProblem = {
  Unreachable: 'unreachable',
  Tls: 'tls',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  Api: 'api',
} as const;
/** One of {@link ClusterProblem}. */
export type ClusterProblem = (typeof ClusterProblem)[keyof typeof ClusterProblem];

/** The Kubernetes API server could not be reached, trusted, or would not answer a list. */
export class ClusterAccessError extends ImageMigratorError {
  public constructor(
    public readonly problem: ClusterProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Two different source images would be written to the same destination. */
export class DestinationCollisionError extends ImageMigratorError {
  public constructor(
    public readonly destination: string,
    public readonly sources: readonly [string, string],
    hint: string,
  ) {
    super(`${sources[0]} and ${sources[1]} would both be copied to ${destination}; ${hint}`);
  }
}
