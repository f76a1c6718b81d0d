// Placeholder: the events function (session table stream -> EventBridge) is being written.
export const handler = async (): Promise<void> => undefined;
