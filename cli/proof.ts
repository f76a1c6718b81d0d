import { HttpRequest } from '@smithy/protocol-http';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { signerFor } from './signing';
import { stsHostFor } from '../lambda/auth/proof';
import { IdentityProof } from '../src/shared/contract';

/**
 * The identity proof the TVM requires on every request: a `sts:GetCallerIdentity` request signed with the caller's
 * own credentials, for STS in the TVM's region, naming the TVM (its host) in a signed header. The TVM sends it to STS
 * itself; the proof is never sent anywhere else by this command.
 */
export async function identityProof(credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider, region: string,
  audience: string, signingDate?: Date): Promise<string> {
  const host = stsHostFor(region);
  const request = new HttpRequest({
    method: 'POST',
    protocol: 'https:',
    hostname: host,
    path: '/',
    headers: { 'host': host, 'content-type': IdentityProof.CONTENT_TYPE, [IdentityProof.AUDIENCE_HEADER]: audience.toLowerCase() },
    body: IdentityProof.BODY,
  });
  const signed = await signerFor('sts', region, credentials, false).sign(request, signingDate ? { signingDate } : {}) as HttpRequest;
  return Buffer.from(JSON.stringify({ v: 1, headers: signed.headers })).toString('base64');
}
