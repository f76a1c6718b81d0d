// SigV4 signing and the identity proof, shared by the `sentinel-tvm` command and the session verifier (lambda/verifier).
import { createHash } from 'crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { stsHostFor } from './proof';
import { IdentityProof } from '../../src/shared/contract';

/** SHA-256 for the SDK's signer (the SDK clients bind it the same way). */
export const Sha256 = Hash.bind(null, 'sha256');

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A SigV4 signer; `applyChecksum` adds (and signs) `x-amz-content-sha256`, so the body is bound to the signature. */
export function signerFor(service: string, region: string,
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider, applyChecksum = true): SignatureV4 {
  return new SignatureV4({ service, region, credentials, sha256: Sha256, applyChecksum, uriEscapePath: true });
}

/** RFC 3986 encoding, as SigV4 canonicalizes query strings. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The identity proof the TVM requires on every request (and a relying party on its own): a `sts:GetCallerIdentity`
 * request signed with the caller's own credentials, for STS in the TVM's region, naming its audience (the TVM's host, or
 * the relying party's) in a signed header. Whoever receives it sends it to STS; it is never sent to STS here.
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
