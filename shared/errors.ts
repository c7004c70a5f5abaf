/**
 * The named errors of image-migrator. The hierarchy is kept shallow on purpose: callers branch on
 * a handful of classes, and every error carries the context a user needs to act on it.
 */

/** Base class of every error this project throws on purpose. */
export class ImageMigratorError extends Error {
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A problem in an input file (auth.json, images.json, a kubeconfig): names the file, the key or rule,
 * and what is wrong. The CLI exits 2 on it and copies nothing.
 */
export class ConfigError extends ImageMigratorError {
  public readonly file: string;
  public readonly key: string | undefined;
  public readonly problem: string;

  public constructor(file: string, key: string | undefined, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${key === undefined ? '' : `${JSON.stringify(key)}: `}${problem}`, options);
    this.file = file;
    this.key = key;
    this.problem = problem;
  }
}

/** A string that is not a valid image reference. */
export class InvalidReferenceError extends ImageMigratorError {
  public readonly reference: string;

  public constructor(reference: string, problem: string) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${problem}`);
    this.reference = reference;
  }
}

/** Bytes that did not hash to the digest they were fetched or pushed under. */
export class DigestMismatchError extends ImageMigratorError {
  public constructor(
    public readonly expected: string,
    public readonly actual: string,
    what: string,
  ) {
    super(`digest mismatch for ${what}: expected ${expected}, got ${actual}`);
  }
}

/** A manifest this tool does not copy (Docker schema 1, or an unknown media type). */
export class UnsupportedManifestError extends ImageMigratorError {
  public constructor(
    public readonly mediaType: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(
      mediaType.includes('v1+') || mediaType.includes('manifest.v1')
        ? `${what} is a Docker schema 1 manifest (${mediaType}), which is deprecated and not supported; re-push it with a current Docker or use an image built as schema 2 or OCI`
        : `${what} has the unsupported manifest media type ${JSON.stringify(mediaType)}`,
      options,
    );
  }
}

/** No pipeline run with this id (never planned, or expired). */
export class UnknownRunError extends ImageMigratorError {
  public constructor(public readonly runId: string) {
    super(`no run ${JSON.stringify(runId)}: it was never planned, or it expired`);
  }
}
