import { ErrorCode, ErrorCodes } from '../src/shared/contract';

/** An error with a code of the API contract; its message is safe to show to the caller. */
export class ApiError extends Error {
  public readonly status: number;

  /**
   * @param detail for the decision log only (e.g. the name of a failed dependency's error), never for the caller
   */
  constructor(public readonly code: ErrorCode, message: string, public readonly headers: Record<string, string> = {},
    public readonly detail?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = ErrorCodes[code];
  }
}
