import { createHash } from 'crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

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
