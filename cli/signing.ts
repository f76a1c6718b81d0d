// The signing helpers live with the runtime, which the session verifier bundles too; the command imports them from there.
export { encodeRfc3986, Sha256, sha256Hex, signerFor } from '../lambda/auth/sign';
