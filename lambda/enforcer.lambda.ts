// Placeholder until the enforcer lands.
export const handler = async (): Promise<void> => undefined;
