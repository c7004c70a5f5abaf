/** Exit codes of every image-migrator command. */
export const ExitCode = {
  /** Every task copied or already up to date. */
  Success: 0,
  /** Some task or rule failed; the others were done. */
  PartialFailure: 1,
  /** A bad flag or input file: nothing was copied. */
  BadInput: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
