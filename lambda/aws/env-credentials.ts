/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (an esbuild alias in .projenrc.ts).
 *
 * Lambda hands a function its role's credentials in the environment, so the SDK's whole default chain (SSO,
 * INI files, IMDS, process, web identity, and the nested STS/SSO clients they need) is dead weight: a third
 * of the bundle and of its load time. Local mode and the tests set the same variables.
 */
export const defaultProvider = () => async () => {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('AWS credentials are not in the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set');
  }
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
};
