/**
 * The error the test harness throws when a registry, token server or seeding step misbehaves.
 */

/** A failure of the test harness itself (not of the code under test). Messages never carry passwords. */
export class HarnessError extends Error {
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
  }
}
