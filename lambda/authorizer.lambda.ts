// Placeholder: the relying party's Lambda authorizer is being written.
export const handler = async (): Promise<{ isAuthorized: boolean }> => ({ isAuthorized: false });
