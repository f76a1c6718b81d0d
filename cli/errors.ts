/** Exit codes of the `sentinel-tvm` command (documented in its --help and the README). */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** The TVM refused the request (an HTTP 4xx answer: policy, session state, bad input). */
  REFUSED: 1,
  /** Bad command line or local configuration file: nothing was sent. */
  USAGE: 2,
  /** The TVM failed (HTTP 5xx), or could not be reached, or answered something that is not the TVM's API. */
  SERVER: 3,
  /** A local problem: no AWS credentials to sign with, an unwritable cache, local mode could not start. */
  LOCAL: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the command reports as one line on stderr, then exits with its code. */
export class CliError extends Error {
  /**
   * The command is two bundled files (the entry and heavy.js), each with its own copy of this class: an error thrown by
   * one is recognised by the other by its name and exit code, not by its prototype.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as CliError).name === 'CliError'
      && typeof (value as CliError).exitCode === 'number';
  }

  constructor(public readonly exitCode: ExitCodeValue, message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line or configuration: exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(ExitCode.USAGE, message);
}
