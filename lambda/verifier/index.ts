// Placeholder: the session verifier for relying parties is being written.
export const VERSION = 1;
